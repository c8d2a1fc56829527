# fstrack shell test library: sharness plus what every fstrack test needs.
#
# A test script sets test_description, then sources this file:
#
#	#!/bin/sh
#	test_description='what this script checks'
#	. "$(dirname "$0")"/../lib/test-lib.sh
#	...
#	fst_done
#
# Environment:
#   FSTRACK_BUILD     build directory with the binaries (default: build), relative
#                     to the top of the source tree or absolute
#   FST_TOOL_BUILD    build directory of fst-test-tool (default: FSTRACK_BUILD)
#   FST_TEST_ROOT     where trash directories go (default: /tmp/fstrack-test.<id>,
#                     one per build directory; a script waits for another run
#                     of itself with the same build)
#   FST_TEST_LOG_DIR  if set, each script's verbose output goes to
#                     $FST_TEST_LOG_DIR/<script>.log and a failing script leaves
#                     <script>.failed there (tests/run-all uses both)
#
# Provided:
#   $FSTRACKD $FSTRACK $FST_TEST_TOOL $FST_JOURNAL_TOOL   absolute paths; the
#       build directory is also first in PATH
#   $FST_STATE $FST_SOCK      the daemon's state dir and socket (FSTRACK_SOCKET
#                             is exported, so plain `fstrack ...` talks to it)
#   lazy prerequisites, checked on first use and skipped LOUDLY with a reason:
#       ROOT FANOTIFY LOOP TMPFS EXT4 XFS BTRFS SHUTDOWN
#   fst_mount_tmpfs DIR
#   fst_mount_image TYPE DIR [SIZE]   sparse image, mkfs, loop device, mount
#   fst_remount DIR                   umount and mount DIR's device again
#   fst_daemon_start [ARGS...]        fstrackd --foreground in the background
#   fst_daemon_stop                   SIGTERM; fails unless it exits 0 in time
#   fst_daemon_kill                   SIGKILL
#   fst_set_sysctl PATH VALUE         restored at exit
#   fst_check_sanitizer               no ASan/UBSan/LSan report so far
#   fst_changes SINCE DIR FILE        the --json answer, checked against the contract
#   fst_check_answer M1 M2 ANSWER     the coverage rule, with the details on failure
#   fst_gt_begin NAME DIR / fst_gt_check NAME DIR / fst_not_fresh NAME
#                                     ground truth around any scenario
#   fst_gt_check_or_error NAME DIR    ... or a clear one-line error
#   fst_journal_dir                   the journal directory in $FST_STATE (the first)
#   fst_mount_fs TYPE DIR, fst_fs_prereq TYPE   tmpfs or an image, and its prerequisites
#   fst_fs_vars TYPE                  fs FS M S fs_prereq P for a test of TYPE
#   fst_watch_new_fs TYPE MOUNT SCOPE [CMD...]   mount, make the tree, start the
#                                     daemon, watch; sets the prerequisite <TYPE>_READY
#   fst_diag MESSAGE                  a "# MESSAGE" line in the TAP output
#   fst_cleanup                       what runs at exit, even on failure or ^C
#   fst_done                          stop daemons, check sanitizers, test_done
#
# Helpers keep their state in shell variables: call them from the test
# body itself, never inside ( ... ) or $( ... ).

FST_SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
FSTRACK_BUILD=${FSTRACK_BUILD:-build}
case "$FSTRACK_BUILD" in
/*) FST_BUILD_DIR=$FSTRACK_BUILD ;;
*) FST_BUILD_DIR=$FST_SRC_DIR/$FSTRACK_BUILD ;;
esac
FSTRACKD=$FST_BUILD_DIR/fstrackd
FSTRACK=$FST_BUILD_DIR/fstrack
FST_JOURNAL_TOOL=$FST_BUILD_DIR/fst-journal-tool
# The ground-truth tool may come from another build (tests/run-all uses the
# plain one: it runs thousands of times, and it is not the product).
case "${FST_TOOL_BUILD:-$FST_BUILD_DIR}" in
/*) FST_TOOL_BUILD=${FST_TOOL_BUILD:-$FST_BUILD_DIR} ;;
*) FST_TOOL_BUILD=$FST_SRC_DIR/$FST_TOOL_BUILD ;;
esac
FST_TEST_TOOL=$FST_TOOL_BUILD/fst-test-tool
export FSTRACKD FSTRACK FST_TEST_TOOL FST_JOURNAL_TOOL FST_SRC_DIR FST_BUILD_DIR FST_TOOL_BUILD

# sharness: trash directories outside the source tree, named <script>, and
# the build directory first in PATH.
SHARNESS_TEST_EXTENSION=sh
if test -z "$FST_TEST_ROOT"; then
	FST_TEST_ROOT=/tmp/fstrack-test.$(printf '%s' "$FST_BUILD_DIR" | cksum | cut -d' ' -f1)
fi
root=$FST_TEST_ROOT
SHARNESS_TEST_DIRECTORY=$FST_TEST_ROOT
SHARNESS_BUILD_DIRECTORY=$FST_BUILD_DIR
export SHARNESS_TEST_DIRECTORY SHARNESS_BUILD_DIRECTORY
mkdir -p "$FST_TEST_ROOT" || exit 1

# Two runs of one script with one build would share a trash directory and
# its mounts: the second waits for the first.
exec 8>"$FST_TEST_ROOT/$(basename "$0" .sh).lock"
if ! flock -n 8; then
	echo "$(basename "$0"): waiting for another run of this script with $FST_BUILD_DIR" >&2
	flock -w 1800 8 || { echo "Bail out! another run of $0 kept the lock for 30 minutes"; exit 1; }
fi

# Sanitizers: every report is fatal (the program aborts). ASan and LSan
# reports land in $FST_SANITIZER_DIR, which the tests check; GCC's UBSan
# ignores log_path and writes to stderr, which for the daemon is its log
# (checked too). tests/run-all exports the same defaults; log_path is per
# script.
FST_SANITIZER_DIR=$FST_TEST_ROOT/sanitizer.$(basename "$0" .sh)
ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:print_stacktrace=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}:log_path=$FST_SANITIZER_DIR/asan"
UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}:log_path=$FST_SANITIZER_DIR/ubsan"
LSAN_OPTIONS=${LSAN_OPTIONS:-}
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
rm -rf "$FST_SANITIZER_DIR"
mkdir -p "$FST_SANITIZER_DIR" || exit 1

# The real stderr, for messages that must be seen even under prove.
exec 7>&2

# Unmount and detach what an earlier, killed run of this script left in its
# trash directory, before sharness removes it (rm -rf must never walk into a
# mount).
fst__unmount_below() {
	fst__esc=$(printf '%s' "$1" | sed 's/\\/\\134/g; s/ /\\040/g; s/	/\\011/g')
	# (ENVIRON: awk -v would turn the \040 of the escaped path into a space)
	FST_P=$fst__esc awk '$5 == ENVIRON["FST_P"] || index($5, ENVIRON["FST_P"] "/") == 1 { print $5 }' \
		/proc/self/mountinfo |
	sort -r |
	while IFS= read -r fst__m; do
		fst__m=$(printf '%b' "$(printf '%s' "$fst__m" | sed 's/\\0*\([0-7][0-7][0-7]\)/\\0\1/g')")
		umount "$fst__m" 2>/dev/null || umount -l "$fst__m" 2>/dev/null ||
		echo "warning: cannot unmount $fst__m" >&7
	done
	if test -d "$1"; then
		find "$1" -name '*.img' -type f 2>/dev/null |
		while IFS= read -r fst__img; do
			losetup -j "$fst__img" 2>/dev/null | cut -d: -f1 |
			while read -r fst__dev; do
				losetup -d "$fst__dev" 2>/dev/null
			done
		done
	fi
}
fst__unmount_below "$FST_TEST_ROOT/trash directory.$(basename "$0" .sh)"

. /usr/share/sharness/sharness.sh

# fst-test-tool by name, from FST_TOOL_BUILD
mkdir -p "$SHARNESS_TRASH_DIRECTORY/.bin" &&
ln -sf "$FST_TEST_TOOL" "$SHARNESS_TRASH_DIRECTORY/.bin/fst-test-tool" || exit 1
PATH=$SHARNESS_TRASH_DIRECTORY/.bin:$PATH

FST_STATE=$SHARNESS_TRASH_DIRECTORY/state
FST_SOCK=$SHARNESS_TRASH_DIRECTORY/fstrack.sock
FST_LOGS=$SHARNESS_TRASH_DIRECTORY/logs
FSTRACK_SOCKET=$FST_SOCK
export FSTRACK_SOCKET FST_STATE FST_SOCK FST_LOGS
mkdir -p "$FST_LOGS"
FST_DAEMON_TIMEOUT=${FST_DAEMON_TIMEOUT:-60}

# ------------------------------------------------------------------
# Output

# Verbose output (and each result) to a log file when run by tests/run-all.
if test -n "$FST_TEST_LOG_DIR"; then
	mkdir -p "$FST_TEST_LOG_DIR"
	FST_TEST_LOG=$FST_TEST_LOG_DIR/$this_test.log
	rm -f "$FST_TEST_LOG" "$FST_TEST_LOG_DIR/$this_test.failed"
	if test "$verbose" != t; then
		exec 3>>"$FST_TEST_LOG" 4>&3
	fi
fi

test_ok_() {
	test_success=$(($test_success + 1))
	say_color "" "ok $test_count - $@"
	test -z "$FST_TEST_LOG" || echo "ok $test_count - $*" >>"$FST_TEST_LOG"
}

test_failure_() {
	test_failure=$(($test_failure + 1))
	say_color error "not ok $test_count - $1"
	test -z "$FST_TEST_LOG" || echo "not ok $test_count - $1" >>"$FST_TEST_LOG"
	shift
	echo "$@" | sed -e 's/^/#	/'
	fst__post_mortem >"$FST_LOGS/post-mortem" 2>&1
	sed -e 's/^/# /' "$FST_LOGS/post-mortem"
	test "$immediate" = "" || { EXIT_OK=t; exit 1; }
}

# After a failure: did the daemon die? Say how, once.
fst__post_mortem() {
	test -n "$FST_DAEMON_PID" || return 0
	fst__alive "$FST_DAEMON_PID" && return 0
	wait "$FST_DAEMON_PID"
	echo "fstrackd (pid $FST_DAEMON_PID) died with status $?; end of $FST_DAEMON_LOG:"
	tail -n 20 "$FST_DAEMON_LOG"
	FST_DAEMON_PID=
	fst_check_sanitizer >/dev/null || fst_check_sanitizer | head -n 25
	if test -n "$FST_TEST_LOG"; then
		echo "(the whole log: $FST_DAEMON_LOG)"
	fi
}

# A diagnostic line in the TAP stream; also on stderr when prove would hide it.
fst_diag() {
	echo "# $*" >&5
	test -z "$FST_TEST_LOG" || echo "# $*" >>"$FST_TEST_LOG"
	if test -n "$HARNESS_ACTIVE" && test -z "$HARNESS_IS_VERBOSE"; then
		echo "$this_test: $*" >&7
	fi
}

# ------------------------------------------------------------------
# Lazy prerequisites: evaluated on first use; a missing one is reported
# once, loudly, with the reason.

fst_lazy_prereq() {
	eval "fst__lazy_script_$1=\$2"
	fst__lazy_names="$fst__lazy_names $1 "
}

fst__eval_lazy() {
	case "$fst__lazy_names" in
	*" $1 "*) ;;
	*) return 0 ;;
	esac
	case "$fst__lazy_done" in
	*" $1 "*) return 0 ;;
	esac
	fst__lazy_done="$fst__lazy_done $1 "
	eval "fst__script=\$fst__lazy_script_$1"
	fst__dir=$SHARNESS_TRASH_DIRECTORY/prereq-$1
	mkdir -p "$fst__dir"
	if (cd "$fst__dir" && eval "$fst__script") >"$fst__dir.out" 2>&1 </dev/null; then
		test_set_prereq "$1"
	else
		fst__why=$(grep -v '^[[:space:]]*$' "$fst__dir.out" | tail -n 1)
		fst_diag "SKIP: prerequisite $1 is missing: ${fst__why:-its check failed}"
		fst__missing="$fst__missing $1"
		fst__missing_why="${fst__missing_why:+$fst__missing_why; }$1 (${fst__why:-its check failed})"
	fi
	rm -rf "$fst__dir"
	return 0
}

# sharness's test_have_prereq, with lazy prerequisites.
test_have_prereq() {
	save_IFS=$IFS
	IFS=,
	set -- $*
	IFS=$save_IFS

	total_prereq=0
	ok_prereq=0
	missing_prereq=

	for prerequisite; do
		case "$prerequisite" in
		!*)
			negative_prereq=t
			prerequisite=${prerequisite#!}
			;;
		*)
			negative_prereq=
			;;
		esac
		fst__eval_lazy "$prerequisite"

		total_prereq=$(($total_prereq + 1))
		case "$satisfied_prereq" in
		*" $prerequisite "*)
			satisfied_this_prereq=t
			;;
		*)
			satisfied_this_prereq=
			;;
		esac

		case "$satisfied_this_prereq,$negative_prereq" in
		t, | ,t)
			ok_prereq=$(($ok_prereq + 1))
			;;
		*)
			prerequisite=${negative_prereq:+!}$prerequisite
			if test -z "$missing_prereq"; then
				missing_prereq=$prerequisite
			else
				missing_prereq="$prerequisite,$missing_prereq"
			fi
			;;
		esac
	done

	test $total_prereq = $ok_prereq
}

# Make a filesystem of TYPE in a small image, mount it at ./m, unmount.
fst__try_fs() {
	command -v "mkfs.$1" >/dev/null || { echo "mkfs.$1 not found"; return 1; }
	case "$1" in
	xfs) fst__sz=320M ;;
	btrfs) fst__sz=256M ;;
	*) fst__sz=64M ;;
	esac
	truncate -s $fst__sz img && fst__mkfs "$1" img >mkfs.out 2>&1 ||
		{ tail -n 1 mkfs.out; return 1; }
	fst__dev=$(losetup -f --show img) || return 1
	mkdir m && mount "$fst__dev" m || { losetup -d "$fst__dev"; echo "cannot mount $1"; return 1; }
	fst__ok=t
	if test -n "$2"; then
		"$FST_TEST_TOOL" probe-fanotify m || fst__ok=
	fi
	umount m
	losetup -d "$fst__dev"
	test -n "$fst__ok"
}

fst__mkfs() {
	case "$1" in
	ext4) mkfs.ext4 -q -F -I 256 -E lazy_itable_init=0,lazy_journal_init=0 "$2" ;;
	xfs) mkfs.xfs -q -f "$2" ;;
	btrfs) mkfs.btrfs -q -f "$2" ;;
	*) "mkfs.$1" "$2" ;;
	esac
}

fst_lazy_prereq ROOT '
	test "$(id -u)" = 0 || { echo "not running as root"; exit 1; }
'
fst_lazy_prereq TMPFS '
	test "$(id -u)" = 0 || { echo "mounting needs root"; exit 1; }
	mkdir m && mount -t tmpfs fst-probe m && umount m
'
fst_lazy_prereq FANOTIFY '
	test "$(id -u)" = 0 || { echo "fanotify filesystem marks need root"; exit 1; }
	mkdir m && mount -t tmpfs fst-probe m || { echo "cannot mount a tmpfs to probe"; exit 1; }
	"$FST_TEST_TOOL" probe-fanotify m; r=$?
	umount m
	exit $r
'
fst_lazy_prereq LOOP '
	test "$(id -u)" = 0 || { echo "loop devices need root"; exit 1; }
	test -e /dev/loop-control || { echo "no /dev/loop-control"; exit 1; }
	truncate -s 1M img && d=$(losetup -f --show img) && losetup -d "$d"
'
fst_lazy_prereq EXT4 'fst__try_fs ext4 probe'
fst_lazy_prereq XFS 'fst__try_fs xfs probe'
fst_lazy_prereq BTRFS 'fst__try_fs btrfs probe'
# FS_IOC_SHUTDOWN on ext4 and xfs (power-loss simulation).
fst_lazy_prereq SHUTDOWN '
	fst__try_fs ext4 || exit 1
	truncate -s 64M img2 && fst__mkfs ext4 img2 && d=$(losetup -f --show img2) &&
	mkdir m2 && mount "$d" m2 || exit 1
	"$FST_TEST_TOOL" shutdown m2; r=$?
	umount m2; losetup -d "$d"
	exit $r
'

# ------------------------------------------------------------------
# Cleanup: a LIFO list of "kind argument" lines, run at exit.

FST_CLEANUP_LIST=
FST_DAEMON_PID=
FST_DAEMON_N=0

fst__register() {
	FST_CLEANUP_LIST="$*
$FST_CLEANUP_LIST"
}

fst__alive() {
	test -d "/proc/$1" && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

fst__abspath() {
	case "$1" in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$PWD/$1" ;;
	esac
}

# Is DIR a mount point? (From mountinfo: stat fails on a shut-down filesystem.)
fst__is_mounted() {
	fst__esc=$(fst__abspath "$1" | sed 's/\\/\\134/g; s/ /\\040/g; s/	/\\011/g')
	FST_P=$fst__esc awk '$5 == ENVIRON["FST_P"] { found = 1 } END { exit !found }' /proc/self/mountinfo
}

fst__unmount() {
	fst__n=0
	while fst__is_mounted "$1" && test $fst__n -lt 5; do
		fst__n=$(($fst__n + 1))
		umount "$1" 2>/dev/null && continue
		sleep 0.2
		umount "$1" 2>/dev/null && continue
		echo "warning: $1 is busy, detaching it lazily" >&7
		umount -l "$1" || return 1
	done
}

fst_cleanup() {
	fst__list=$FST_CLEANUP_LIST
	FST_CLEANUP_LIST=
	while IFS= read -r fst__line; do
		test -n "$fst__line" || continue
		fst__kind=${fst__line%% *}
		fst__arg=${fst__line#* }
		case "$fst__kind" in
		daemon)
			if fst__alive "$fst__arg"; then
				kill -KILL "$fst__arg" 2>/dev/null
				wait "$fst__arg" 2>/dev/null
			fi
			;;
		mount)
			fst__unmount "$fst__arg" || echo "warning: cannot unmount $fst__arg" >&7
			;;
		loop)
			# Only if it still is ours (path of the image after the device).
			fst__dev=${fst__arg%% *}
			fst__img=${fst__arg#* }
			if losetup -j "$fst__img" 2>/dev/null | grep -q "^$fst__dev:"; then
				losetup -d "$fst__dev" || echo "warning: cannot detach $fst__dev" >&7
			fi
			;;
		sysctl)
			fst__path=${fst__arg%% *}
			echo "${fst__arg#* }" >"$fst__path" ||
				echo "warning: cannot restore $fst__path" >&7
			;;
		esac
	done <<EOF
$fst__list
EOF
	FST_DAEMON_PID=
}

fst__exit_trap() {
	fst__code=$?
	# A reader that went away (| head) must not cut the cleanup short.
	trap '' PIPE
	fst_cleanup
	if test -n "$FST_TEST_LOG" && { test "$fst__code" != 0 || test "$test_failure" != 0; }; then
		: >"$FST_TEST_LOG_DIR/$this_test.failed"
	fi
	(exit $fst__code)
	die
}
trap 'fst__exit_trap' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE
cleanup fst_cleanup

# ------------------------------------------------------------------
# Filesystems

fst_mount_tmpfs() {
	mkdir -p "$1" &&
	mount -t tmpfs -o size=512m,mode=0755 fst-test "$1" &&
	fst__register "mount $(fst__abspath "$1")"
}

FST_IMAGE_N=0

# fst_mount_image TYPE DIR [SIZE]
fst_mount_image() {
	fst__type=$1
	fst__mnt=$(fst__abspath "$2")
	fst__size=$3
	if test -z "$fst__size"; then
		case "$fst__type" in
		xfs) fst__size=320M ;;
		btrfs) fst__size=256M ;;
		*) fst__size=256M ;;
		esac
	fi
	FST_IMAGE_N=$(($FST_IMAGE_N + 1))
	mkdir -p "$SHARNESS_TRASH_DIRECTORY/images" "$fst__mnt" || return 1
	fst__img=$SHARNESS_TRASH_DIRECTORY/images/$FST_IMAGE_N.$fst__type.img
	rm -f "$fst__img"
	truncate -s "$fst__size" "$fst__img" || return 1
	fst__mkfs "$fst__type" "$fst__img" >"$fst__img.mkfs.log" 2>&1 || {
		cat "$fst__img.mkfs.log"
		return 1
	}
	fst__dev=$(losetup -f --show "$fst__img") || return 1
	fst__register "loop $fst__dev $fst__img"
	mount "$fst__dev" "$fst__mnt" || return 1
	fst__register "mount $fst__mnt"
}

# Unmount DIR and mount its device again (after a shutdown, say).
fst_remount() {
	fst__dev=$(findmnt -n -o SOURCE -M "$(fst__abspath "$1")") || {
		echo "fst_remount: $1 is not a mount point"
		return 1
	}
	fst__unmount "$1" && mount "$fst__dev" "$1"
}

# fst_set_sysctl PATH VALUE: the first old value is restored at exit.
fst_set_sysctl() {
	case "$FST_SYSCTLS" in
	*" $1 "*) ;;
	*)
		FST_SYSCTLS="$FST_SYSCTLS $1 "
		fst__register "sysctl $1 $(cat "$1")" || return 1
		;;
	esac
	echo "$2" >"$1"
}

# ------------------------------------------------------------------
# The daemon

# fst_daemon_start [ARGS...]: start fstrackd and wait until it answers.
# FST_DAEMON_PROBE, when set, is the command that asks (a shell function or
# command line; default "fstrack status"), tried every 10 ms instead of
# every 100: a test that wants its first request answered the moment the
# socket is up sets it to that request.
fst_daemon_start() {
	if test -n "$FST_DAEMON_PID"; then
		echo "fst_daemon_start: fstrackd ($FST_DAEMON_PID) is already running"
		return 1
	fi
	test -x "$FSTRACKD" || {
		echo "fst_daemon_start: $FSTRACKD is not built"
		return 1
	}
	FST_DAEMON_N=$(($FST_DAEMON_N + 1))
	FST_DAEMON_LOG=$FST_LOGS/fstrackd.$FST_DAEMON_N.log
	mkdir -p "$FST_STATE" "$(dirname "$FST_SOCK")"
	"$FSTRACKD" --foreground --state-dir "$FST_STATE" --socket "$FST_SOCK" "$@" \
		</dev/null >"$FST_DAEMON_LOG" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- &
	FST_DAEMON_PID=$!
	fst__register "daemon $FST_DAEMON_PID"
	fst__t=0 # in hundredths of a second
	while test $fst__t -lt $(($FST_DAEMON_TIMEOUT * 100)); do
		if ! fst__alive "$FST_DAEMON_PID"; then
			wait "$FST_DAEMON_PID"
			echo "fstrackd exited with status $? while starting; its log:"
			cat "$FST_DAEMON_LOG"
			FST_DAEMON_PID=
			return 1
		fi
		if test -n "$FST_DAEMON_PROBE"; then
			if eval "$FST_DAEMON_PROBE" >/dev/null 2>&1; then
				return 0
			fi
			sleep 0.01
			fst__t=$(($fst__t + 1))
			continue
		fi
		if "$FSTRACK" --socket "$FST_SOCK" status >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
		fst__t=$(($fst__t + 10))
	done
	echo "fstrackd did not answer 'status' within ${FST_DAEMON_TIMEOUT}s; its log:"
	cat "$FST_DAEMON_LOG"
	fst_daemon_kill
	return 1
}

# Wait up to $2 seconds for pid $1 to exit.
fst__wait_exit() {
	fst__t=0
	while fst__alive "$1"; do
		test $fst__t -lt $(($2 * 10)) || return 1
		sleep 0.1
		fst__t=$(($fst__t + 1))
	done
}

# SIGTERM: the daemon must stop cleanly (exit 0) within the timeout.
fst_daemon_stop() {
	fst__pid=$FST_DAEMON_PID
	test -n "$fst__pid" || return 0
	FST_DAEMON_PID=
	kill -TERM "$fst__pid" || return 1
	if ! fst__wait_exit "$fst__pid" "$FST_DAEMON_TIMEOUT"; then
		echo "fstrackd did not stop within ${FST_DAEMON_TIMEOUT}s of SIGTERM; killing it"
		kill -KILL "$fst__pid"
		wait "$fst__pid"
		return 1
	fi
	wait "$fst__pid"
	fst__rc=$?
	if test "$fst__rc" != 0; then
		echo "fstrackd exited with status $fst__rc after SIGTERM; end of its log:"
		tail -n 30 "$FST_DAEMON_LOG"
		fst_check_sanitizer
		return 1
	fi
	fst_check_sanitizer
}

fst_daemon_kill() {
	fst__pid=$FST_DAEMON_PID
	test -n "$fst__pid" || return 0
	FST_DAEMON_PID=
	kill -KILL "$fst__pid" 2>/dev/null
	wait "$fst__pid" 2>/dev/null
	return 0
}

# No sanitizer report from any program so far (log files and daemon logs).
fst_check_sanitizer() {
	fst__bad=
	for fst__f in "$FST_SANITIZER_DIR"/*; do
		test -s "$fst__f" || continue
		echo "sanitizer report in $fst__f:"
		head -n 60 "$fst__f"
		fst__bad=t
	done
	for fst__f in "$FST_LOGS"/fstrackd.*.log; do
		test -f "$fst__f" || continue
		if grep -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|UndefinedBehaviorSanitizer' \
			"$fst__f" >/dev/null; then
			echo "sanitizer report in $fst__f:"
			grep -E -A 30 'ERROR: |runtime error:' "$fst__f" | head -n 60
			fst__bad=t
		fi
	done
	test -z "$fst__bad"
}

# ------------------------------------------------------------------
# Talking to the daemon

# fst_changes SINCE DIR FILE: the --json answer in FILE, checked against the contract.
fst_changes() {
	"$FSTRACK" changes --since "$1" --json "$2" >"$3" || {
		echo "fstrack changes --since $1 --json $2 failed"
		return 1
	}
	"$FST_TEST_TOOL" validate "$3" || {
		echo "the answer breaks the contract:"
		cat "$3"
		return 1
	}
}

# fst_check_answer M1 M2 ANSWER [TAG]: the coverage rule; prints why on failure.
fst_check_answer() {
	"$FST_TEST_TOOL" check --before "$1" --after "$2" --answer "$3" >"$3.check" 2>&1 || {
		echo "coverage check failed${4:+ ($4)}:"
		cat "$3.check"
		echo "the answer:"
		"$FST_TEST_TOOL" answer "$3" dump | head -n 200
		return 1
	}
}

# Ground truth around any scenario:
#	fst_gt_begin NAME DIR    a token (NAME.tok) and the manifest (NAME.m0)
#	...                      anything: operations, crashes, restarts
#	fst_gt_check NAME DIR    the manifest after (NAME.m1), the answer since
#	                         the token (NAME.json), the coverage rule
#	fst_not_fresh NAME       the answer was not fresh
fst_gt_begin() {
	"$FSTRACK" token "$2" >"$1.tok" &&
	"$FST_TEST_TOOL" manifest "$2" >"$1.m0"
}

fst_gt_check() {
	"$FST_TEST_TOOL" manifest "$2" >"$1.m1" &&
	fst_changes "$(cat "$1.tok")" "$2" "$1.json" &&
	fst_check_answer "$1.m0" "$1.m1" "$1.json" "$1"
}

# fst_gt_check_or_error NAME DIR: fst_gt_check, or else a clear error
# (exit 1, one line on stderr, in NAME.err); either way a diagnostic line
# says which it was. For damage that may leave the directory unknown.
fst_gt_check_or_error() {
	"$FST_TEST_TOOL" manifest "$2" >"$1.m1" || return 1
	if "$FSTRACK" changes --since "$(cat "$1.tok")" --json "$2" >"$1.json" 2>"$1.err"; then
		fst_check_answer "$1.m0" "$1.m1" "$1.json" "$1" &&
		fst_diag "$1: fresh=$("$FST_TEST_TOOL" answer "$1.json" fresh)"
	else
		fst__rc=$?
		if test $fst__rc != 1 || test "$(wc -l <"$1.err")" != 1; then
			echo "$1: fstrack changes failed with status $fst__rc and not one line:"
			cat "$1.err"
			return 1
		fi
		fst_diag "$1: an error: $(cat "$1.err")"
	fi
}

fst_not_fresh() {
	test "$("$FST_TEST_TOOL" answer "$1.json" fresh)" = false || {
		echo "$1: the answer is fresh (docs/design.md: downtime, crashes and overflow" \
			"are repaired by the catch-up scan, not answered fresh)"
		return 1
	}
}

# fst_scope_field DIR FIELD: FIELD of the scope DIR in status --json
fst_scope_field() {
	"$FSTRACK" status --json >scope-field.json &&
	"$FST_TEST_TOOL" json scope-field.json scopes "*" path >scope-field.paths &&
	"$FST_TEST_TOOL" json scope-field.json scopes "*" "$2" >scope-field.values &&
	paste scope-field.paths scope-field.values | awk -v d="$1" -F "\t" '$1 == d { print $2 }'
}

fst_journal_dir() {
	for j in "$FST_STATE"/journals/*/
	do
		test -d "$j" || break
		echo "${j%/}"
		return 0
	done
	echo "no journal directory in $FST_STATE/journals" >&2
	return 1
}

# fst_create_unlink DIR N: N create+unlink pairs in DIR (1000 names; a new
# inode each time): changes that leave nothing behind
fst_create_unlink() {
	/usr/bin/python3 - "$1" "$2" <<-\EOF
	import os, sys
	d, n = sys.argv[1], int(sys.argv[2])
	for i in range(n):
	    p = "%s/c%d" % (d, i % 1000)
	    os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
	    os.unlink(p)
	EOF
}

# fst_mount_fs TYPE DIR: tmpfs, or an image of TYPE
fst_mount_fs() {
	if test "$1" = tmpfs
	then
		fst_mount_tmpfs "$2"
	else
		fst_mount_image "$1" "$2"
	fi
}

# fst_fs_prereq TYPE: the prerequisites of a filesystem of TYPE
fst_fs_prereq() {
	case "$1" in
	tmpfs) echo ROOT,FANOTIFY,TMPFS ;;
	*) echo "ROOT,FANOTIFY,LOOP,$(fst__upper "$1")" ;;
	esac
}

fst__upper() {
	printf '%s\n' "$1" | tr a-z A-Z
}

# fst_fs_vars TYPE: the names a test of a filesystem of TYPE uses (a loop
# over types sets them at the top of each turn):
#	fs        TYPE
#	FS        TYPE in capitals
#	M         $PWD/TYPE, where it is mounted
#	S         $M/scope, the watched directory
#	fs_prereq what mounting it needs
#	P         $fs_prereq,${FS}_READY: what a test of the watched directory needs
fst_fs_vars() {
	fs=$1
	FS=$(fst__upper "$1")
	M=$PWD/$1
	S=$M/scope
	fs_prereq=$(fst_fs_prereq "$1")
	P=$fs_prereq,${FS}_READY
}

# fst_watch_new_fs TYPE MOUNT SCOPE [CMD [ARG...]]: the setup of a test of a
# watched directory. A new filesystem of TYPE is mounted at MOUNT (tmpfs or a
# loop image, unmounted and detached at exit even when a test fails), SCOPE
# is made, CMD ARG... (if given) fills it, the daemon is started unless it
# runs, SCOPE is watched; then the prerequisite <TYPE>_READY is set.
fst_watch_new_fs() {
	fst__wtype=$1 fst__wscope=$3
	fst_mount_fs "$1" "$2" &&
	mkdir -p "$3" || return 1
	shift 3
	if test $# -gt 0; then
		"$@" || {
			echo "fst_watch_new_fs: making the tree failed: $*"
			return 1
		}
	fi
	if test -z "$FST_DAEMON_PID"; then
		fst_daemon_start || return 1
	fi
	"$FSTRACK" watch "$fst__wscope" >/dev/null &&
	test_set_prereq "$(fst__upper "$fst__wtype")_READY"
}

# ------------------------------------------------------------------

# The end of every script: stop the daemon, check for sanitizer reports.
# Tests skipped are counted, with the missing prerequisites and why, in a
# line "# SKIPPED N of M tests: missing ..." (tests/run-all sums them up).
fst_done() {
	if test -z "$skip_all" || test "$test_count" -gt 0; then
		test_expect_success 'daemon stops cleanly; no sanitizer reports' '
			fst_daemon_stop &&
			fst_check_sanitizer
		'
	fi
	fst__skipped=$(($test_count - $test_success - $test_failure - $test_fixed - $test_broken))
	if test "$fst__skipped" -gt 0; then
		fst_diag "SKIPPED $fst__skipped of $test_count tests: missing ${fst__missing_why:-a prerequisite (see the TAP output)}"
	fi
	test_done
}
