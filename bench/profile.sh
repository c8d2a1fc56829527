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
# First the profile: each storm once with the daemon under perf; its line
# gives events the daemon read (status events_seen), its CPU time during
# the storm and the catch-up (`fstrack token`; the scheduler's count, in
# ns, perf's own share included), CPU per event read and per write, and
# perf's top entries (self time, the daemon's process only, kernel
# included). Needs perf (Debian: linux-perf).
# Then the figures, without perf: PR_RUNS (3) rounds, each with every storm
# read by fstrackd (a new daemon and state directory) and by floor A
# (bench/fanotify-floor: fstrackd's mark, batched reads, every event
# dropped: the CPU the kernel charges any reader per event, which is part
# of fstrackd's figure too), which of the two goes first alternating. The
# table at the end gives, per storm, the medians and ranges of fstrackd's
# CPU per event, floor A's, and their difference in the same round: what
# decoding, recording and the journal cost (meaningful where both read
# about as many events, i.e. churn and create).
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

RUNS=${PR_RUNS:-3}

# every pass leaves its files (create's tree, rewrite's files) in its own
# directories: one profiled pass, then RUNS of fstrackd and RUNS of floor A
# (create's files take a 4 KiB block each)
PASSES=$((2 * RUNS + 1))
IMAGE_MIB=$((PASSES * (CREATE / 200 + RW_FILES / 200 + 20) + 1024))
((IMAGE_MIB >= 4096)) || IMAGE_MIB=4096
MNT=$WORK/mnt
bench_image "$MNT" "${IMAGE_MIB}M" $((PASSES * (CREATE + CREATE / 50 + RW_FILES + 100) + 20000))
# the commit the build was made from (its meson source directory)
built_from() {
	local src
	src=$(jq -r .directories.source "$BUILD_DIR/meson-info/meson-info.json" 2>/dev/null) &&
		git -C "$src" describe --always --dirty 2>/dev/null || echo '?'
}
bench_header "profile of fstrackd: $BUILD_DIR (built from $(built_from)), ext4 on loop"
FLOOR=$BUILD_DIR/fanotify-floor

events() { bench_status_field '[.filesystems[].events_seen] | add'; }
# CPU per event read and per write, by "storm,run": fstrackd's and floor A's
declare -A fst_us=() floor_us=() fst_pw=() floor_pw=()

# fst_start / fst_stop: a daemon with a new state directory (no catch-up
# scan of the earlier passes' files), watching the image's root
fst_start() {
	rm -rf "$WORK/state"
	bench_daemon_start
	"$FSTRACK" watch "$MNT" >/dev/null
}

# line NAME WHO WRITES EVENTS CPU: one storm's figures, printed
line() {
	local per pw
	per=$(echo "if ($4 > 0) $5 * 1000000 / $4 else 0" | bc -l)
	pw=$(echo "$5 * 1000000 / $3" | bc -l)
	bench_out "$(printf '%-8s %-9s writes %7d  events read %7d  cpu %6.3f s  %6.2f µs/event  %6.3f µs/write' \
		"$1" "$2" "$3" "$4" "$5" "$per" "$pw")"
	LINE_PER_EVENT=$per
	LINE_PER_WRITE=$pw
}

# storm NAME WRITES CMD...: run CMD with fstrackd reading; $PASS names the
# pass ("perf": under perf record, its profile printed; else a run number)
storm() {
	local name=$1 writes=$2 ev0 ev1 cpu0 cpu1 data perf_pid=
	shift 2
	data=$WORK/perf-$name.data
	"$FSTRACK" token "$MNT" >/dev/null
	ev0=$(events)
	cpu0=$(bench_cpu_fine "$DAEMON_PID")
	if [ "$PASS" = perf ]; then
		perf record -q -o "$data" -p "$DAEMON_PID" 2>/dev/null &
		perf_pid=$!
		sleep 0.5
	fi
	"$@" >/dev/null
	"$FSTRACK" token "$MNT" >/dev/null
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" || true
	fi
	cpu1=$(bench_cpu_fine "$DAEMON_PID")
	ev1=$(events)
	if [ "$PASS" = perf ]; then
		line "$name" "fst perf" "$writes" $((ev1 - ev0)) "$(echo "$cpu1 - $cpu0" | bc -l)"
		perf report -i "$data" --stdio --no-children --sort symbol 2>/dev/null |
			awk -v top="$TOP" '/^ +[0-9]/ && n < top { n++; sub(/ +- +- *$/, ""); print }' |
			while IFS= read -r l; do bench_out "    $l"; done
	else
		line "$name" "fst $PASS" "$writes" $((ev1 - ev0)) "$(echo "$cpu1 - $cpu0" | bc -l)"
		fst_us[$name,$PASS]=$LINE_PER_EVENT
		fst_pw[$name,$PASS]=$LINE_PER_WRITE
	fi
}

# floor_storm NAME WRITES CMD...: the same storm read by floor A (the
# kernel's cost of reading each event, and nothing else)
floor_storm() {
	local name=$1 writes=$2 ev0 ev1 cpu0 cpu1
	shift 2
	bench_floor_sync "$FLOOR"
	ev0=$(bench_floor_field events)
	cpu0=$(bench_cpu_fine "$FLOOR_PID")
	"$@" >/dev/null
	bench_floor_sync "$FLOOR"
	cpu1=$(bench_cpu_fine "$FLOOR_PID")
	ev1=$(bench_floor_field events)
	line "$name" "floor $PASS" "$writes" $((ev1 - ev0)) "$(echo "$cpu1 - $cpu0" | bc -l)"
	floor_us[$name,$PASS]=$LINE_PER_EVENT
	floor_pw[$name,$PASS]=$LINE_PER_WRITE
}

# run_storms FN SUFFIX: every storm wanted, through FN, in directories NAME$SUFFIX
want() { [[ $STORMS == *" $1 "* ]]; }
run_storms() {
	local fn=$1 x=$2
	if want rewrite; then
		mkdir "$MNT/rw$x"
		$fn rewrite $((RW_FILES * RW_ROUNDS)) "$BT" rewrite "$MNT/rw$x" "$RW_FILES" "$RW_ROUNDS"
	fi
	want append && $fn append "$APPENDS" "$BT" append "$MNT/ap$x" 10 "$APPENDS"
	want churn && $fn churn $((CHURN * 2)) "$BT" storm-churn "$MNT/ch$x" "$CHURN"
	want create && $fn create "$CREATE" "$BT" mktree "$MNT/cr$x" "$CREATE" 100 1024
	return 0
}

# The profile: one pass under perf (its CPU includes perf's own share).
PASS=perf
fst_start
run_storms storm p
bench_daemon_stop
bench_out "  the profile: self time of the daemon's process, top $TOP symbols, kernel included"

# The figures: RUNS rounds, fstrackd and floor A in turn (which goes first
# alternates), no perf.
have_floor=1
if [ ! -x "$FLOOR" ]; then
	have_floor=
	bench_out "  floor A: SKIPPED: no $FLOOR (run make first)"
fi
fst_pass() {
	fst_start
	run_storms storm "f$PASS"
	bench_daemon_stop
}
floor_pass() {
	[ -n "$have_floor" ] || return 0
	FLOOR_DELAY_MS=5 bench_floor_start "$FLOOR" "$MNT"
	run_storms floor_storm "a$PASS"
	bench_floor_stop
}
for PASS in $(seq "$RUNS"); do
	if ((PASS % 2)); then
		fst_pass
		floor_pass
	else
		floor_pass
		fst_pass
	fi
done

# median (min-max) of the numbers given
med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.3f (%.3f-%.3f)", m, v[1], v[NR] }'; }

bench_out ""
bench_out "CPU in µs, median of $RUNS runs (min-max)"
bench_out "$(printf '%-8s  %-24s  %-24s  %-24s  %-24s  %-24s' storm 'fstrackd per event' \
	'floor A per event' 'fstrackd - floor A' 'fstrackd per write' 'floor A per write')"
for name in rewrite append churn create; do
	want "$name" || continue
	f=() a=() d=() fw=() aw=()
	for r in $(seq "$RUNS"); do
		f+=("${fst_us[$name,$r]}")
		fw+=("${fst_pw[$name,$r]}")
		if [ -n "$have_floor" ]; then
			a+=("${floor_us[$name,$r]}")
			aw+=("${floor_pw[$name,$r]}")
			d+=("$(echo "${fst_us[$name,$r]} - ${floor_us[$name,$r]}" | bc -l)")
		fi
	done
	if [ -n "$have_floor" ]; then
		bench_out "$(printf '%-8s  %-24s  %-24s  %-24s  %-24s  %-24s' "$name" "$(med "${f[@]}")" \
			"$(med "${a[@]}")" "$(med "${d[@]}")" "$(med "${fw[@]}")" "$(med "${aw[@]}")")"
	else
		bench_out "$(printf '%-8s  %-24s  %-24s  %-24s  %-24s  %-24s' "$name" "$(med "${f[@]}")" - - \
			"$(med "${fw[@]}")" -)"
	fi
done
bench_out "  cpu: the reader's CPU time (the scheduler's, of its threads) from before the storm to its token"
bench_out "  (fstrackd) or to floor A's sync; events read: status events_seen, floor A's count. fstrackd - floor A:"
bench_out "  the same run's difference, what decoding, recording and the journal cost above what the kernel"
bench_out "  charges any reader. fstrackd runs with a new state directory each run; floor A is"
bench_out "  bench/fanotify-floor: fstrackd's mark, reading in batches 5 ms apart and dropping every event."
bench_out "  Runs alternate which goes first. Rows with few events read (rewrite, append) are dominated by"
bench_out "  fixed costs (the tokens, the commits): read them per write."
