# fstrack benchmarks: what every bench/*.sh script shares. Source it:
#
#	. "$(dirname "$0")/lib.sh"
#	bench_init NAME "$@"
#
# bench_init takes the build directory as the first argument (or
# $FSTRACK_BUILD, default "build"), checks for root, makes $WORK (a temporary
# directory in /tmp), copies the programs there (so that a rebuild of the
# tree during a run does not change them) and sets a trap that, on any exit,
# stops the daemons, unmounts, detaches the loop devices and removes $WORK.
#
# Provided after bench_init:
#   $FSTRACKD $FSTRACK $BT      the copied programs; $BT is bench-tool
#   $WORK $SRC_DIR $OUT_FILE    scratch, top of the source tree, results file
#   $QUICK                      1 with BENCH_QUICK=1 (small sizes)
#   $BUILD_DIR                  the build directory (absolute)
#   bench_image DIR SIZE INODES        sparse ext4 image, loop device, mounted
#   bench_daemon_start [ARGS...]       fstrackd --foreground, state and socket
#                                      in $WORK/state, $WORK/sock; sets $DAEMON_PID
#   bench_daemon_stop                  SIGTERM and wait
#   bench_status_field JQ_EXPR         from 'fstrack status --json'
#   bench_rss PID                      "VmRSS VmHWM" in KiB
#   bench_cpu PID                      user + system CPU seconds used so far
#   bench_floor_start BIN MNT [ARGS]   fanotify-floor BIN serving MNT (ARGS: e.g.
#                                      --ignore) on $WORK/floor.sock; sets FLOOR_PID,
#                                      its stderr in $WORK/floor.err
#   bench_floor_sync BIN               read its queue until empty; its counters
#                                      ("events N overflows N ...") in $WORK/floor.answer
#   bench_floor_field KEY              one counter of that answer
#   bench_floor_stop                   stop it
#   bench_cpu_fine PID                 the same in ns precision, from the scheduler
#                                      (/proc/PID/task/*/schedstat: threads alive
#                                      now only; falls back to bench_cpu)
#   bench_cold                         sync and drop the page, dentry and inode caches
#   bench_hyperfine VAR RUNS WARMUP PREPARE CMD
#                                      time CMD; sets VAR_mean VAR_sd VAR_min (s);
#                                      BENCH_HF_SHELL=none: without a shell (-N)
#   bench_header TITLE                 the table's title lines
#   bench_out TEXT...                  a line to stdout and to $OUT_FILE
#   bench_say TEXT...                  progress, to stderr only
#   bench_ratio A B                    A/B with 2 decimals ("-" if B is 0 or empty)
#   ms SECONDS                         in milliseconds, 2 decimals
#   bench_missed ANSWER LIST           paths of LIST an answer does not cover
#   bench_watchman_start               a private Watchman server (socket, state, log in
#                                      $WORK/watchman); sets WM_PID, WM_SOCK, or WM_WHY
#   bench_watchman ARGS...             the watchman client, talking to that server only
#   bench_watchman_stop                shutdown-server and wait
#   bench_find_git_builtin             a git >= 2.55 with the builtin fsmonitor daemon,
#                                      built first if need be (tools/build-git):
#                                      sets BGIT (its path) or BGIT_WHY (why there is none)

set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 1 ] || QUICK=0

bench__mounts=()
bench__loops=()
bench__images=() # images outside $WORK (BENCH_IMAGE_DIR)
bench__pids=()
DAEMON_PID=

bench_say() { echo "[$BENCH_NAME $(date +%T)] $*" >&2; }

bench_out() {
	printf '%s\n' "$*"
	printf '%s\n' "$*" >>"$OUT_FILE"
}

bench__cleanup() {
	local rc=$? p m l
	set +e
	trap - EXIT INT TERM
	if [ "$rc" != 0 ] && [ -s "${WORK:-}/fstrackd.log" ]; then
		echo "$BENCH_NAME: the last lines of fstrackd's log:" >&2
		tail -n 15 "$WORK/fstrackd.log" >&2
	fi
	for p in "${bench__pids[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -CONT "$p" 2>/dev/null # it may have been stopped (SIGSTOP)
			kill -TERM "$p" 2>/dev/null
			for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	# newest mount first
	for ((m = ${#bench__mounts[@]} - 1; m >= 0; m--)); do
		if mountpoint -q "${bench__mounts[m]}"; then
			umount "${bench__mounts[m]}" 2>/dev/null || umount -l "${bench__mounts[m]}"
		fi
	done
	for l in "${bench__loops[@]}"; do
		losetup -d "$l" 2>/dev/null
	done
	for m in "${bench__images[@]}"; do
		rm -f "$m"
	done
	if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
		# never remove through a mount that is still there
		if ! grep -q " ${WORK}/" /proc/self/mounts; then
			rm -rf "$WORK"
		else
			echo "$BENCH_NAME: $WORK still has mounts; not removed" >&2
		fi
	fi
	if [ "$rc" != 0 ]; then
		echo "$BENCH_NAME: FAILED (exit $rc); partial results in $OUT_FILE" >&2
		[ -n "${OUT_FILE:-}" ] && echo "FAILED (exit $rc)" >>"$OUT_FILE"
	fi
	exit "$rc"
}

bench_init() {
	BENCH_NAME=$1
	local build=${2:-${FSTRACK_BUILD:-build}}
	case "$build" in
	/*) ;;
	*) build=$SRC_DIR/$build ;;
	esac
	[ "$(id -u)" = 0 ] || { echo "$BENCH_NAME: must run as root (mount, drop_caches, fanotify)" >&2; exit 1; }
	for t in hyperfine jq rsync cc bc; do
		command -v "$t" >/dev/null || { echo "$BENCH_NAME: needs $t" >&2; exit 1; }
	done
	[ -x "$build/fstrackd" ] && [ -x "$build/fstrack" ] ||
		{ echo "$BENCH_NAME: no $build/fstrackd or $build/fstrack: run make first" >&2; exit 1; }

	BUILD_DIR=$build
	mkdir -p "$SRC_DIR/bench/out"
	OUT_FILE=$SRC_DIR/bench/out/$BENCH_NAME.txt
	: >"$OUT_FILE"
	WORK=$(mktemp -d "/tmp/fst-bench-$BENCH_NAME.XXXXXX")
	trap bench__cleanup EXIT
	trap 'exit 130' INT TERM

	# Copies: fstrack finds libfstrack through RUNPATH $ORIGIN, so the copy
	# of the library next to it is the one it uses. The daemon's copy has
	# another name, so that 'pkill -x fstrackd' (make stop, test scripts) run
	# by someone else on the machine does not stop it in the middle of a run.
	mkdir "$WORK/bin"
	cp "$build/fstrackd" "$WORK/bin/fstrackd-bench"
	cp "$build/fstrack" "$WORK/bin/"
	cp -P "$build"/libfstrack.so* "$WORK/bin/" 2>/dev/null || true
	FSTRACKD=$WORK/bin/fstrackd-bench
	FSTRACK=$WORK/bin/fstrack
	BT=$WORK/bin/bench-tool
	cc -O2 -Wall -Wextra -Wno-format-truncation -o "$BT" "$SRC_DIR/bench/bench-tool.c"
	export FSTRACK_SOCKET=$WORK/sock
}

# bench_image DIR SIZE INODES: a sparse ext4 image in $WORK, on a loop device,
# mounted on DIR, every inode table written now (no lazy init during timing).
# BENCH_IMAGE_DIR=/dev/shm puts the image in memory instead: the same ext4,
# on a block device with no disk under it, so the host disk's noise (other
# tenants, writeback) is out of the figures and what is left is CPU.
bench_image() {
	local dir=$1 size=$2 inodes=$3 img loop
	if [ -n "${BENCH_IMAGE_DIR:-}" ]; then
		img=$BENCH_IMAGE_DIR/$(basename "$WORK")-$(basename "$dir").img
		bench__images+=("$img")
	else
		img=$WORK/$(basename "$dir").img
	fi
	truncate -s "$size" "$img"
	mkfs.ext4 -q -N "$inodes" -E lazy_itable_init=0,lazy_journal_init=0 "$img"
	loop=$(losetup --find --show "$img")
	bench__loops+=("$loop")
	mkdir -p "$dir"
	mount "$loop" "$dir"
	bench__mounts+=("$dir")
}

bench_daemon_start() {
	mkdir -p "$WORK/state"
	"$FSTRACKD" --foreground --state-dir "$WORK/state" --socket "$WORK/sock" "$@" \
		2>>"$WORK/fstrackd.log" &
	DAEMON_PID=$!
	bench__pids+=("$DAEMON_PID")
	for _ in $(seq 300); do
		"$FSTRACK" status >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "$BENCH_NAME: fstrackd did not come up; its log:" >&2
	tail -n 20 "$WORK/fstrackd.log" >&2
	return 1
}

bench_daemon_stop() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID" || { echo "$BENCH_NAME: fstrackd exited with $?" >&2; return 1; }
	DAEMON_PID=
}

bench_status_field() { "$FSTRACK" status --json | jq -r "$1"; }

bench_rss() { awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { print r, h }' "/proc/$1/status"; }

bench_cpu() {
	local s
	s=$(cat "/proc/$1/stat")
	set -- ${s##*) } # fields from the 3rd on: utime and stime are the 14th and 15th
	echo "scale=2; (${12} + ${13}) / $(getconf CLK_TCK)" | bc
}

bench_floor_start() {
	local bin=$1 mnt=$2
	shift 2
	rm -f "$WORK/floor.sock"
	"$bin" serve "$@" "$mnt" "$WORK/floor.sock" 2>"$WORK/floor.err" &
	FLOOR_PID=$!
	bench__pids+=("$FLOOR_PID")
	for _ in $(seq 100); do
		"$bin" sync "$WORK/floor.sock" >/dev/null 2>&1 && return 0
		kill -0 "$FLOOR_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "$BENCH_NAME: fanotify-floor did not come up: $(tail -n 2 "$WORK/floor.err")" >&2
	return 1
}
bench_floor_sync() { "$1" sync "$WORK/floor.sock" >"$WORK/floor.answer"; }
bench_floor_field() { awk -v k="$1" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$WORK/floor.answer"; }
bench_floor_stop() {
	kill -TERM "$FLOOR_PID"
	wait "$FLOOR_PID"
}

bench_cpu_fine() {
	local f v rest ns=0
	for f in /proc/"$1"/task/*/schedstat; do
		read -r v rest <"$f" 2>/dev/null && ns=$((ns + v))
	done
	if [ "$ns" -gt 0 ]; then
		echo "scale=6; $ns / 1000000000" | bc
	else
		bench_cpu "$1"
	fi
}

bench_cold() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# bench_hyperfine VAR RUNS WARMUP PREPARE CMD (PREPARE may be empty)
bench_hyperfine() {
	local var=$1 runs=$2 warmup=$3 prepare=$4 cmd=$5 json=$WORK/hf.json
	local args=(--style basic --runs "$runs" --warmup "$warmup" --export-json "$json")
	# BENCH_HF_SHELL=none: no shell (for commands of a few ms: hyperfine cannot
	# subtract a shell's start-up precisely enough)
	[ "${BENCH_HF_SHELL:-}" = none ] && args+=(-N)
	[ -n "$prepare" ] && args+=(--prepare "$prepare")
	hyperfine "${args[@]}" "$cmd" >&2
	printf -v "${var}_mean" '%s' "$(jq -r '.results[0].mean' "$json")"
	printf -v "${var}_sd" '%s' "$(jq -r '.results[0].stddev // 0' "$json")"
	printf -v "${var}_min" '%s' "$(jq -r '.results[0].min' "$json")"
	printf -v "${var}_median" '%s' "$(jq -r '.results[0].median' "$json")"
}

bench_ratio() {
	if [ -z "${2:-}" ] || [ "$(echo "$2 == 0" | bc)" = 1 ]; then
		echo -
	else
		printf '%.2f' "$(echo "scale=6; $1 / $2" | bc)"
	fi
}

ms() { printf '%.2f' "$(echo "$1 * 1000" | bc)"; }

bench_header() {
	bench_out ""
	bench_out "== $1"
	bench_out "   $(date '+%Y-%m-%d %H:%M'), $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM," \
		"kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)$([ "$QUICK" = 1 ] && echo ', BENCH_QUICK=1')$([ -n "${BENCH_IMAGE_DIR:-}" ] && echo ", images in $BENCH_IMAGE_DIR")"
}

# bench_missed ANSWER_JSON LIST: how many paths of LIST (relative, one a line)
# the answer of 'fstrack changes --json' does not cover (docs/design.md: the path
# itself, its parent with kind entries, an ancestor with kind recursive, or
# fresh).
bench_missed() {
	local -A exact=() entries=() recursive=()
	local kinds path p a missed=0
	if [ "$(jq -r .fresh "$1")" = true ]; then
		echo 0
		return
	fi
	while IFS=$'\t' read -r kinds path; do
		exact[$path]=1
		case ",$kinds," in *,entries,*) entries[$path]=1 ;; esac
		case ",$kinds," in *,recursive,*) recursive[$path]=1 ;; esac
	done < <(jq -r '.changes[] | "\(.kinds | join(","))\t\(.path)"' "$1")
	while IFS= read -r p; do
		[ -n "$p" ] || continue
		[ -n "${exact[$p]:-}" ] && continue
		a=$(dirname "$p")
		[ -n "${entries[$a]:-}" ] && continue
		a=$p
		while :; do
			[ -n "${recursive[$a]:-}" ] && continue 2
			[ "$a" = . ] && break
			a=$(dirname "$a")
		done
		missed=$((missed + 1))
	done < <(sort -u "$2")
	echo "$missed"
}

# A private Watchman server: its own socket, state and log in $WORK/watchman,
# so it never meets a user's server. This Watchman 4.9 client does not read
# WATCHMAN_SOCK: every call passes --sockname (bench_watchman).
bench_watchman_start() {
	local wm=$WORK/watchman
	WM_PID= WM_WHY=
	WM_SOCK=$wm/sock
	if ! command -v watchman >/dev/null; then
		WM_WHY="watchman is not installed (apt-get install -y watchman)"
		return 1
	fi
	rm -rf "$wm"
	mkdir -p "$wm"
	watchman --foreground --sockname="$WM_SOCK" --statefile="$wm/state" --logfile="$wm/log" \
		--pidfile="$wm/pid" --no-save-state >"$wm/out" 2>&1 &
	WM_PID=$!
	bench__pids+=("$WM_PID")
	for _ in $(seq 100); do
		bench_watchman version >/dev/null 2>&1 && return 0
		kill -0 "$WM_PID" 2>/dev/null || break
		sleep 0.1
	done
	WM_WHY="the watchman server did not start: $(tail -n 1 "$wm/log" 2>/dev/null)"
	return 1
}

bench_watchman() { watchman --sockname="$WM_SOCK" --no-spawn --no-local "$@"; }

bench_watchman_stop() {
	[ -n "$WM_PID" ] || return 0
	bench_watchman shutdown-server >/dev/null 2>&1 || kill -TERM "$WM_PID"
	wait "$WM_PID" || true
	WM_PID=
}

# git's builtin fsmonitor daemon on Linux needs git >= 2.55: $FST_BENCH_GIT if
# set, else the git on PATH if it is new enough, else the one tools/build-git
# builds from Debian's source in BUILD_DIR/git (once per build directory;
# shared with make check), else none (the caller prints BGIT_WHY in place of
# the figures). tools/build-git --find decides which.
bench_find_git_builtin() {
	BGIT= BGIT_WHY=
	"$SRC_DIR/tools/build-git" --for bench "$BUILD_DIR"
	if ! BGIT=$("$SRC_DIR/tools/build-git" --for bench --find "$BUILD_DIR"); then
		BGIT_WHY=$BGIT BGIT=
		return 1
	fi
}
