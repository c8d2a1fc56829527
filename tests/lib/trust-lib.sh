# What the t3xxx scripts (a hostile user, a failing world) share. Source it
# after test-lib.sh:
#
#	. "$(dirname "$0")"/../lib/test-lib.sh
#	. "$FST_SRC_DIR"/tests/lib/trust-lib.sh
#
# Provided:
#   $FST_ATTACK $FST_FUZZ          the attack helpers (tests/helper), from
#                                  FST_TOOL_BUILD like fst-test-tool
#   prerequisite USERADD           useradd/userdel/setpriv are there (and ROOT)
#   trust_user NAME                a new unprivileged user (and its group),
#                                  removed at exit, even on failure
#   trust_group NAME               a new group, removed at exit
#   as_user NAME CMD...            CMD as NAME (its uid, gid and groups)
#   trust_bg CMD...                CMD (a program) in the background; $TRUST_BG_PID;
#                                  killed at exit
#   trust_bg_as NAME CMD...        the same, as NAME
#   trust_stop PID                 SIGTERM a background helper and wait for it
#   trust_rss PID                  VmRSS in KiB
#   trust_fds PID                  open fds
#   trust_cpu PID                  utime + stime in clock ticks
#   trust_wait_for SECONDS CMD...  until CMD succeeds (0) or SECONDS pass (1)
#   trust_same_error A B PA PB     two error lines equal once the paths PA/PB
#                                  are replaced by "P"
#   trust_log_lines                lines of the current daemon log
#   trust_lines N FILE             FILE has N lines
#   trust_starve_limit PID FREE    an fd limit that leaves PID FREE fds to open
#
# Like test-lib.sh's helpers, these keep their state in shell variables:
# call them from the test body, never inside ( ... ) or $( ... ).

FST_ATTACK=$FST_TOOL_BUILD/fst-attack
FST_FUZZ=$FST_TOOL_BUILD/fst-fuzz
export FST_ATTACK FST_FUZZ
ln -sf "$FST_ATTACK" "$SHARNESS_TRASH_DIRECTORY/.bin/fst-attack" &&
ln -sf "$FST_FUZZ" "$SHARNESS_TRASH_DIRECTORY/.bin/fst-fuzz" || exit 1

# Programs run as a test user write their sanitizer reports here too.
chmod 1777 "$FST_SANITIZER_DIR" || exit 1

fst_lazy_prereq USERADD '
	test "$(id -u)" = 0 || { echo "creating users needs root"; exit 1; }
	for p in useradd userdel groupadd groupdel setpriv; do
		command -v $p >/dev/null || { echo "$p not found"; exit 1; }
	done
'

TRUST_PIDS=
TRUST_USERS=
TRUST_GROUPS=

trust_cleanup() {
	for trust__p in $TRUST_PIDS; do
		if kill -0 "$trust__p" 2>/dev/null; then
			kill -CONT "$trust__p" 2>/dev/null
			kill -KILL "$trust__p" 2>/dev/null
			wait "$trust__p" 2>/dev/null
		fi
	done
	TRUST_PIDS=
}

trust_cleanup_accounts() {
	for trust__u in $TRUST_USERS; do
		userdel -f "$trust__u" >/dev/null 2>&1 ||
			echo "warning: cannot remove the test user $trust__u" >&7
	done
	for trust__g in $TRUST_GROUPS; do
		getent group "$trust__g" >/dev/null || continue
		groupdel "$trust__g" >/dev/null 2>&1 ||
			echo "warning: cannot remove the test group $trust__g" >&7
	done
	TRUST_USERS=
	TRUST_GROUPS=
}

# Helpers first (they may hold connections), then the accounts, then
# test-lib.sh's cleanup (daemons, mounts), at exit and at test_done.
trust__exit_trap() {
	trust__code=$?
	trust_cleanup
	trust_cleanup_accounts
	(exit $trust__code)
	fst__exit_trap
}
trap 'trust__exit_trap' EXIT
cleanup 'trust_cleanup; trust_cleanup_accounts'

# A user or group of an earlier, killed run of this script.
trust__forget() {
	if id -u "$1" >/dev/null 2>&1; then
		userdel -f "$1" >/dev/null 2>&1
	fi
	if getent group "$1" >/dev/null 2>&1; then
		groupdel "$1" >/dev/null 2>&1
	fi
}

# trust_user NAME: a user with its own group, no home, no login.
trust_user() {
	trust__forget "$1"
	useradd -M -U -s /usr/sbin/nologin "$1" || return 1
	TRUST_USERS="$TRUST_USERS $1" # userdel removes its own group too
}

trust_group() {
	trust__forget "$1"
	groupadd "$1" || return 1
	TRUST_GROUPS="$TRUST_GROUPS $1"
}

as_user() {
	trust__u=$1
	shift
	setpriv --reuid="$trust__u" --regid="$trust__u" --init-groups -- "$@"
}

# (exec: $! is the program itself, not a subshell that would leave it behind)
trust_bg() {
	(exec "$@") &
	TRUST_BG_PID=$!
	TRUST_PIDS="$TRUST_PIDS $TRUST_BG_PID"
}

trust_bg_as() {
	trust__u=$1
	shift
	trust_bg setpriv --reuid="$trust__u" --regid="$trust__u" --init-groups -- "$@"
}

# SIGTERM, then SIGKILL after 5 s
trust_stop() {
	kill -TERM "$1" 2>/dev/null
	trust__t=50
	while kill -0 "$1" 2>/dev/null && test $trust__t -gt 0; do
		sleep 0.1
		trust__t=$(($trust__t - 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

trust_rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

trust_fds() {
	ls "/proc/$1/fd" | wc -l
}

trust_cpu() {
	# fields 14 and 15 of /proc/PID/stat, after the ")" that ends the name
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

trust_wait_for() {
	trust__t=$(($1 * 10))
	shift
	while ! "$@"; do
		test $trust__t -gt 0 || return 1
		sleep 0.1
		trust__t=$(($trust__t - 1))
	done
}

trust_same_error() {
	trust__a=$(printf '%s\n' "$1" | sed "s|$3|P|g")
	trust__b=$(printf '%s\n' "$2" | sed "s|$4|P|g")
	test "$trust__a" = "$trust__b" || {
		echo "the errors differ:"
		echo "  $1"
		echo "  $2"
		return 1
	}
}

trust_log_lines() {
	wc -l <"$FST_DAEMON_LOG"
}

# trust_lines N FILE: FILE has N lines (says how many otherwise)
trust_lines() {
	trust__n=$(wc -l <"$2") &&
	test "$trust__n" = "$1" || {
		echo "$2 has $trust__n lines, not $1:"
		head -c 2000 "$2"
		return 1
	}
}

# trust_starve_limit PID FREE: the RLIMIT_NOFILE below which process PID has
# exactly FREE unused fd numbers (fds are taken lowest first); with
# prlimit --pid PID --nofile=N:HARD it then has FREE fds left to open
trust_starve_limit() {
	ls "/proc/$1/fd" | sort -n | awk -v free="$2" '
		{ used[$1] = 1 }
		END {
			n = 0
			for (i = 0; ; i++)
				if (!(i in used)) {
					if (n == free) { print i; exit }
					n++
				}
		}'
}
