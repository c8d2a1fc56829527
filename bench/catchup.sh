#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Catch-up after downtime (issue 3).
#
# A tree of CATCHUP_FILES files (default 100000, 100 to a directory) on a
# loop-mounted ext4 image, and a copy of it in /tmp made with rsync (the
# user's previous backup). fstrackd watches the tree; take a token and a
# marker, stop the daemon (SIGTERM), change CATCHUP_CHANGES files (1000:
# modify, create, delete, rename in turn), wait DOWNTIME_S seconds (600;
# 5 with BENCH_QUICK=1), then time from starting fstrackd to
# 'fstrack changes --since T' answering (it waits for the catch-up scan),
# and check that the answer covers every changed path. Then the same again
# with cold caches (drop_caches just before the start) after a downtime of
# COLD_DOWNTIME_S (5; 1 with BENCH_QUICK=1). Compared with what a user
# would do without fstrack:
#   find TREE -newer MARKER
#   rsync -a --delete --dry-run -i TREE/ COPY/    (lists what changed)
# warm and cold. Finally runs bench/scan-rate.sh (the scan alone on a
# million inodes against find -newer) when it is there; N=100000 and
# THREADS="0 2" with BENCH_QUICK=1.
#
# Usage: [BENCH_QUICK=1] bench/catchup.sh [BUILD]
. "$(dirname "$0")/lib.sh"
bench_init catchup "$@"

if [ "$QUICK" = 1 ]; then
	d_files=5000 d_down=5 d_cold_down=1 d_runs=3 d_cold=1
else
	d_files=100000 d_down=600 d_cold_down=5 d_runs=10 d_cold=5
fi
FILES=${CATCHUP_FILES:-$d_files}
CHANGES=${CATCHUP_CHANGES:-1000}
DOWNTIME_S=${DOWNTIME_S:-$d_down}
COLD_DOWNTIME_S=${COLD_DOWNTIME_S:-$d_cold_down}
RUNS=${CATCHUP_RUNS:-$d_runs}
COLD_RUNS=${CATCHUP_COLD_RUNS:-$d_cold}

MNT=$WORK/mnt
TREE=$MNT/tree
COPY=$WORK/copy
REF=$MNT/marker
bench_image "$MNT" 8G $((FILES + 65536))

bench_say "making $FILES files in $TREE, and a copy in $COPY"
"$BT" mktree "$TREE" "$FILES" 100 100
NDIRS=$(find "$TREE" -type d | wc -l)
rsync -a "$TREE/" "$COPY/"
sync
sleep 2.5 # the tree older than the scan's margin (--margin-ms 2000), as a real tree would be

# catchup ROUND COLD DOWNTIME: token, stop, change, wait, (drop caches),
# start and time until 'changes' answers. Results in res[ROUND.*].
declare -A res
catchup() {
	local round=$1 cold=$2 downtime=$3 tok t0 t1 list=$WORK/changed-$1.list
	local ans=$WORK/answer-$1.json st=$WORK/status-$1.json
	tok=$("$FSTRACK" token "$TREE")
	[ "$round" = warm ] && touch "$REF"
	sleep 0.2 # a commit of the daemon after the token: its watermark moves past it
	bench_daemon_stop
	bench_say "$round: daemon stopped; changing $CHANGES files, then ${downtime}s of downtime"
	"$BT" change "$TREE" "$CHANGES" mixed "$list" >&2
	sleep "$downtime"
	[ "$cold" = 1 ] && bench_cold
	t0=$(date +%s.%N)
	"$FSTRACKD" --foreground --state-dir "$WORK/state" --socket "$WORK/sock" 2>>"$WORK/fstrackd.log" &
	DAEMON_PID=$!
	bench__pids+=("$DAEMON_PID")
	# connection refused until the socket is up; EAGAIN if the scan outlives wait_ms
	until "$FSTRACK" changes --since "$tok" --json "$TREE" >"$ans" 2>"$WORK/err"; do
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/err" >&2; return 1; }
		sleep 0.01
	done
	t1=$(date +%s.%N)
	"$FSTRACK" status --json >"$st"
	res[$round.secs]=$(echo "$t1 - $t0" | bc)
	res[$round.missed]=$(bench_missed "$ans" "$list")
	res[$round.found]=$(jq '.changes | length' "$ans")
	res[$round.recursive]=$(jq '[.changes[] | select(.kinds | index("recursive"))] | length' "$ans")
	res[$round.fresh]=$(jq -r .fresh "$ans")
	res[$round.paths]=$(sort -u "$list" | wc -l)
	res[$round.running]=$(jq -r '.filesystems[0].scan.running' "$st")
	res[$round.scan_ms]=$(jq -r '.filesystems[0].scan.last_duration_ms' "$st")
	res[$round.inodes]=$(jq -r '.filesystems[0].scan.inodes' "$st")
	res[$round.emitted]=$(jq -r '.filesystems[0].scan.emitted' "$st")
}

bench_daemon_start
"$FSTRACK" watch "$TREE" >/dev/null
catchup warm 0 "$DOWNTIME_S"
catchup cold 1 "$COLD_DOWNTIME_S"
bench_daemon_stop

# What a user would do instead, on the same tree (both rounds' changes are
# in it now; the work is a full walk either way).
n_find=$(find "$TREE" -newer "$REF" | wc -l)
n_rsync=$(rsync -a --delete --dry-run -i "$TREE/" "$COPY/" | wc -l)
bench_say "timing find and rsync --dry-run"
bench_hyperfine fw "$RUNS" 1 "" "find $TREE -newer $REF"
bench_hyperfine rw "$RUNS" 1 "" "rsync -a --delete --dry-run -i $TREE/ $COPY/"
bench_hyperfine fc "$COLD_RUNS" 0 "sync; echo 3 >/proc/sys/vm/drop_caches" "find $TREE -newer $REF"
bench_hyperfine rc "$COLD_RUNS" 0 "sync; echo 3 >/proc/sys/vm/drop_caches" \
	"rsync -a --delete --dry-run -i $TREE/ $COPY/"

bench_header "catch-up: $CHANGES changes during downtime, tree of $FILES files, $NDIRS dirs, ext4 on loop"
bench_out "$(printf '%-47s %-5s %10s %9s %8s %9s' what cache seconds "±sd" found "vs fstrack")"
fst_row() { # round label
	bench_out "$(printf '%-47s %-5s %10.3f %9s %8s %9s' "$2" "$1" "${res[$1.secs]}" - "${res[$1.found]}" x1.00)"
}
alt_row() { # var label cache fstrack_secs found
	local m sd
	eval "m=\${$1_mean} sd=\${$1_sd}"
	bench_out "$(printf '%-47s %-5s %10.3f %9.3f %8s %9s' "$2" "$3" "$m" "$sd" "$5" "x$(bench_ratio "$m" "$4")")"
}
fst_row warm "fstrackd start -> changes answered (${DOWNTIME_S}s down)"
alt_row fw "find -newer MARKER" warm "${res[warm.secs]}" "$n_find"
alt_row rw "rsync -a --delete --dry-run -i TREE/ COPY/" warm "${res[warm.secs]}" "$n_rsync"
fst_row cold "fstrackd start -> changes answered (${COLD_DOWNTIME_S}s down)"
alt_row fc "find -newer MARKER" cold "${res[cold.secs]}" "$n_find"
alt_row rc "rsync -a --delete --dry-run -i TREE/ COPY/" cold "${res[cold.secs]}" "$n_rsync"
for r in warm cold; do
	if [ "${res[$r.missed]}" = 0 ]; then cov=yes; else cov="NO, ${res[$r.missed]} missed"; fi
	bench_out "  $r: catch-up scan ${res[$r.scan_ms]} ms over ${res[$r.inodes]} inodes, ${res[$r.emitted]} emitted;" \
		"answer: ${res[$r.found]} entries, ${res[$r.recursive]} of them recursive, fresh: ${res[$r.fresh]};" \
		"scan running after it: ${res[$r.running]}; covers the ${res[$r.paths]} changed paths: $cov"
done
bench_out "  fstrack: one run each (a new downtime per run); find and rsync: mean of $RUNS warm, $COLD_RUNS cold runs"
bench_out "  find and rsync ran after both rounds: their trees hold $((2 * CHANGES)) changes"

scan_rc=0
if [ -x "$SRC_DIR/bench/scan-rate.sh" ] || [ -f "$SRC_DIR/bench/scan-rate.sh" ]; then
	bench_say "bench/scan-rate.sh"
	bench_out ""
	bench_out "== bench/scan-rate.sh$([ "$QUICK" = 1 ] && echo " (N=${N:-100000}, THREADS=${THREADS:-0 2})")"
	set +e
	if [ "$QUICK" = 1 ]; then
		# a smoke test: fewer thread counts too
		N=${N:-100000} THREADS=${THREADS:-"0 2"} bash "$SRC_DIR/bench/scan-rate.sh" | tee -a "$OUT_FILE"
	else
		bash "$SRC_DIR/bench/scan-rate.sh" | tee -a "$OUT_FILE"
	fi
	scan_rc=${PIPESTATUS[0]}
	set -e
	[ "$scan_rc" = 0 ] || bench_out "bench/scan-rate.sh FAILED (exit $scan_rc)"
else
	bench_out "(bench/scan-rate.sh is not there: skipped)"
fi
exit "$scan_rc"
