#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Where fstrackd's CPU goes per event (issue 10): the daemon under
# `perf record` while a storm of writes runs, on ext4 on a loop device.
#
#   bench/profile.sh [BUILD]      (default: build; e.g. a build of an older
#                                  commit, to compare before and after)
#
# Storms, each in its own directory of the image, the daemon watching the
# image's root (every writer is inside a scope):
#   rewrite   PR_RW_FILES (1000) files rewritten PR_RW_ROUNDS (200) times
#             (open O_TRUNC, write, close)
#   append    PR_APPENDS (200000) one-byte appends to 10 files
#   churn     PR_CHURN (50000) empty files created, then unlinked
#   create    PR_CREATE (50000) files of 1 KiB, 100 to a directory
# PR_STORMS="rewrite append churn create" picks a subset.
# For each: events the daemon read (status events_seen), its user+system
# CPU time during the storm and the catch-up (`fstrack token`), CPU per
# event read and per write, and perf's top entries (self time, the daemon's
# process only, kernel included). Needs perf (Debian: linux-perf).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

bench_init profile "${1:-}"
if ! command -v perf >/dev/null; then
	bench_out "== profile of fstrackd: SKIPPED: perf is not installed (apt-get install linux-perf)"
	exit 0
fi
RW_FILES=${PR_RW_FILES:-1000}
RW_ROUNDS=${PR_RW_ROUNDS:-200}
APPENDS=${PR_APPENDS:-200000}
CHURN=${PR_CHURN:-50000}
CREATE=${PR_CREATE:-50000}
STORMS=" ${PR_STORMS:-rewrite append churn create} "
TOP=${PR_TOP:-12}

MNT=$WORK/mnt
bench_image "$MNT" 4G 400000
# the commit the build was made from (its meson source directory)
built_from() {
	local src
	src=$(jq -r .directories.source "$BUILD_DIR/meson-info/meson-info.json" 2>/dev/null) &&
		git -C "$src" describe --always --dirty 2>/dev/null || echo '?'
}
bench_header "profile of fstrackd: $BUILD_DIR (built from $(built_from)), ext4 on loop"
bench_daemon_start
"$FSTRACK" watch "$MNT" >/dev/null

events() { bench_status_field '[.filesystems[].events_seen] | add'; }

# storm NAME WRITES CMD...: run CMD under the daemon's profile
storm() {
	local name=$1 writes=$2 ev0 ev1 cpu0 cpu1 data
	shift 2
	data=$WORK/perf-$name.data
	"$FSTRACK" token "$MNT" >/dev/null
	ev0=$(events)
	cpu0=$(bench_cpu "$DAEMON_PID")
	perf record -q -o "$data" -p "$DAEMON_PID" 2>/dev/null &
	local perf_pid=$!
	sleep 0.5
	"$@" >/dev/null
	"$FSTRACK" token "$MNT" >/dev/null
	kill -INT "$perf_pid"
	wait "$perf_pid" || true
	cpu1=$(bench_cpu "$DAEMON_PID")
	ev1=$(events)
	local ev=$((ev1 - ev0)) cpu
	cpu=$(echo "$cpu1 - $cpu0" | bc -l)
	bench_out "$(printf '%-8s writes %7d  events read %7d  cpu %6.2f s  %6.2f µs/event  %6.3f µs/write' \
		"$name" "$writes" "$ev" "$cpu" \
		"$(echo "if ($ev > 0) $cpu * 1000000 / $ev else 0" | bc -l)" \
		"$(echo "$cpu * 1000000 / $writes" | bc -l)")"
	perf report -i "$data" --stdio --no-children --sort symbol 2>/dev/null |
		awk -v top="$TOP" '/^ +[0-9]/ && n < top { n++; sub(/ +- +- *$/, ""); print }' |
		while IFS= read -r l; do bench_out "    $l"; done
}

want() { [[ $STORMS == *" $1 "* ]]; }
if want rewrite; then
	mkdir "$MNT/rw"
	storm rewrite $((RW_FILES * RW_ROUNDS)) "$BT" rewrite "$MNT/rw" "$RW_FILES" "$RW_ROUNDS"
fi
want append && storm append "$APPENDS" "$BT" append "$MNT/ap" 10 "$APPENDS"
want churn && storm churn $((CHURN * 2)) "$BT" storm-churn "$MNT/ch" "$CHURN"
want create && storm create "$CREATE" "$BT" mktree "$MNT/cr" "$CREATE" 100 1024
bench_out "  cpu: fstrackd's user+system time (/proc/PID/stat, 10 ms ticks) from before the storm to its token;"
bench_out "  events read: status events_seen; perf: self time of the daemon's process, top $TOP symbols"
bench_daemon_stop
