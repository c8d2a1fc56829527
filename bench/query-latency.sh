#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Query latency, daemon memory, journal size and ingest rate (issue 2).
#
# A tree of QL_FILES files (default 100000, 100 to a directory) on a
# loop-mounted ext4 image; fstrackd with its own state dir and socket in
# /tmp (another filesystem). watch, token, touch a marker, change QL_CHANGES
# files (default 100: modify, create, delete, rename in turn), then time
#   fstrack changes --since T --json TREE   (always the same old token)
#   find TREE -newer MARKER                 (what a user would do instead)
# warm (QL_RUNS, 30) and cold (QL_COLD_RUNS, 10; drop_caches before each
# run). Then the daemon's CPU time and wake-ups idle (QL_IDLE_S, 10 s), its
# memory (VmRSS, VmHWM) idle and after each event storm, its CPU time per
# event, the journal's bytes per record, and the ingest rate (events_seen /
# time until the daemon has read them all):
#   rewrite storm: QL_STORM_FILES files (1000) rewritten QL_STORM_ROUNDS
#                  times (1000): open O_TRUNC + write + close
#   churn storm:   QL_CHURN files (200000) created, then deleted
# each timed once without the daemon too (the workload's own cost); then
# the churn storm once more with the daemon (restarted with
# --unlimited-queue) stopped by SIGSTOP while it runs: the time to read that
# backlog after SIGCONT is the daemon's own ingest rate.
#
# Usage: [BENCH_QUICK=1] bench/query-latency.sh [BUILD]
. "$(dirname "$0")/lib.sh"
bench_init query-latency "$@"

if [ "$QUICK" = 1 ]; then
	d_files=5000 d_runs=5 d_cold=2 d_sf=100 d_sr=100 d_churn=10000 d_idle=3
else
	d_files=100000 d_runs=30 d_cold=10 d_sf=1000 d_sr=1000 d_churn=200000 d_idle=10
fi
FILES=${QL_FILES:-$d_files}
PER_DIR=${QL_PER_DIR:-100}
CHANGES=${QL_CHANGES:-100}
RUNS=${QL_RUNS:-$d_runs}
COLD_RUNS=${QL_COLD_RUNS:-$d_cold}
STORM_FILES=${QL_STORM_FILES:-$d_sf}
STORM_ROUNDS=${QL_STORM_ROUNDS:-$d_sr}
CHURN=${QL_CHURN:-$d_churn}
IDLE_S=${QL_IDLE_S:-$d_idle}

MNT=$WORK/mnt
TREE=$MNT/tree
REF=$MNT/marker
bench_image "$MNT" 8G $((FILES + CHURN + STORM_FILES + 65536))

bench_say "making $FILES files in $TREE"
"$BT" mktree "$TREE" "$FILES" "$PER_DIR" 100
NDIRS=$(find "$TREE" -type d | wc -l)
sync

# The storms without the daemon: what the workload costs by itself.
bench_say "storms without fstrackd"
read -r rw_ops rw_base < <("$BT" storm-rewrite "$MNT/base-rewrite" "$STORM_FILES" "$STORM_ROUNDS")
read -r ch_ops ch_base < <("$BT" storm-churn "$MNT/base-churn" "$CHURN")
rm -rf "$MNT/base-rewrite" "$MNT/base-churn"
sync

bench_daemon_start
T=$("$FSTRACK" watch "$TREE")
sleep 0.05
touch "$REF"
sleep 0.05
bench_say "changing $CHANGES files"
"$BT" change "$TREE" "$CHANGES" mixed "$WORK/changed.list" >&2
sync

# The answer must cover every path changed (the guarantee of docs/design.md): a sanity
# check of what is timed, not a figure.
"$FSTRACK" changes --since "$T" --json "$TREE" >"$WORK/answer.json"
missed=$(bench_missed "$WORK/answer.json" "$WORK/changed.list")
n_fst=$(jq '.changes | length' "$WORK/answer.json")
n_find=$(find "$TREE" -newer "$REF" | wc -l)
read -r idle_rss idle_hwm < <(bench_rss "$DAEMON_PID")
# idle: CPU time and wake-ups in IDLE_S seconds of nothing to do
ctx() { awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
idle_cpu=$(bench_cpu "$DAEMON_PID") idle_ctx=$(ctx)
sleep "$IDLE_S"
idle_cpu=$(printf '%.2f' "$(echo "$(bench_cpu "$DAEMON_PID") - $idle_cpu" | bc)") idle_ctx=$(($(ctx) - idle_ctx))
j_bytes0=$(bench_status_field '.filesystems[0].journal_bytes')
j_recs0=$(bench_status_field '.filesystems[0].records_written')

bench_say "timing, warm cache"
bench_hyperfine fw "$RUNS" 3 "" "$FSTRACK changes --since $T --json $TREE"
bench_hyperfine nw "$RUNS" 3 "" "find $TREE -newer $REF"
bench_say "timing, cold cache"
bench_hyperfine fc "$COLD_RUNS" 0 "sync; echo 3 >/proc/sys/vm/drop_caches" \
	"$FSTRACK changes --since $T --json $TREE"
bench_hyperfine nc "$COLD_RUNS" 0 "sync; echo 3 >/proc/sys/vm/drop_caches" "find $TREE -newer $REF"

# storm MODE NAME OPS BASE_SECONDS COMMAND...: run COMMAND, then wait until
# the daemon has read every event (a token is handed out only after the
# queue is drained and the journal committed); one row of the ingest table.
# MODE live: the daemon reads while COMMAND runs; drain time counts from the
# start of COMMAND. MODE backlog: the daemon is stopped (SIGSTOP) while
# COMMAND runs and continued after it: drain time counts from SIGCONT, so
# events/s is the daemon's own reading rate (needs --unlimited-queue).
storm_rows=()
storm() {
	local mode=$1 name=$2 base=$4 e0 r0 o0 c0 t0 t2 e1 r1 o1 c1 out ops gen rss hwm
	shift 4
	c0=$(bench_cpu "$DAEMON_PID")
	e0=$(bench_status_field '.filesystems[0].events_seen')
	r0=$(bench_status_field '.filesystems[0].records_written')
	o0=$(bench_status_field '.filesystems[0].overflows')
	[ "$mode" = backlog ] && kill -STOP "$DAEMON_PID"
	t0=$(date +%s.%N)
	out=$("$@")
	if [ "$mode" = backlog ]; then
		t0=$(date +%s.%N)
		kill -CONT "$DAEMON_PID"
	fi
	"$FSTRACK" token "$TREE" >/dev/null
	t2=$(date +%s.%N)
	# the token waits for the queue; a catch-up scan after an overflow may still run
	while [ "$(bench_status_field '.filesystems[0].scan.running')" = true ]; do sleep 0.05; done
	e1=$(bench_status_field '.filesystems[0].events_seen')
	r1=$(bench_status_field '.filesystems[0].records_written')
	o1=$(bench_status_field '.filesystems[0].overflows')
	c1=$(bench_cpu "$DAEMON_PID")
	read -r ops gen <<<"$out"
	read -r rss hwm < <(bench_rss "$DAEMON_PID")
	storm_rows+=("$name|$ops|$(printf '%.2f' "$base")|$(printf '%.2f' "$gen")|x$(bench_ratio "$gen" "$base")|$(printf '%.2f' "$(echo "$t2 - $t0" | bc)")|$((e1 - e0))|$((r1 - r0))|$((o1 - o0))|$(printf '%.0f' "$(echo "($e1 - $e0) / ($t2 - $t0)" | bc -l)")|$(printf '%.2f' "$(echo "$c1 - $c0" | bc)")|$(printf '%.2f' "$(echo "($c1 - $c0) * 1000000 / ($e1 - $e0 + 1)" | bc -l)")")
	mem_rows+=("after $name|$rss|$hwm")
}
mem_rows=()
mkdir -p "$TREE/storm"
bench_say "rewrite storm: $STORM_FILES files x $STORM_ROUNDS"
storm live "rewrite ${STORM_FILES}x$STORM_ROUNDS" "$rw_ops" "$rw_base" \
	"$BT" storm-rewrite "$TREE/storm/rewrite" "$STORM_FILES" "$STORM_ROUNDS"
bench_say "churn storm: $CHURN files created and deleted"
storm live "churn $CHURN" "$ch_ops" "$ch_base" "$BT" storm-churn "$TREE/storm/churn" "$CHURN"
j_bytes=$(bench_status_field '.filesystems[0].journal_bytes')
j_recs=$(bench_status_field '.filesystems[0].records_written')

bench_say "churn storm again, the daemon stopped during it (--unlimited-queue)"
bench_daemon_stop
bench_daemon_start --unlimited-queue
"$FSTRACK" token "$TREE" >/dev/null # after the restart's catch-up scan
while [ "$(bench_status_field '.filesystems[0].scan.running')" = true ]; do sleep 0.05; done
storm backlog "churn $CHURN, backlog" "$ch_ops" "$ch_base" "$BT" storm-churn "$TREE/storm/backlog" "$CHURN"
bench_daemon_stop

# ---- the tables ----
bench_header "query latency: $CHANGES changes (mixed) in a tree of $FILES files, $NDIRS dirs, ext4 on loop"
bench_out "$(printf '%-34s %-5s %9s %8s %9s %8s %8s' what cache "mean ms" "±sd" "min ms" found "vs fstrack")"
row() { # label cache var found ref_var
	local m sd mn
	eval "m=\${$3_mean} sd=\${$3_sd} mn=\${$3_min}"
	local ref
	eval "ref=\${$5_mean}"
	bench_out "$(printf '%-34s %-5s %9s %8s %9s %8s %8s' "$1" "$2" "$(ms "$m")" "$(ms "$sd")" "$(ms "$mn")" "$4" "x$(bench_ratio "$m" "$ref")")"
}
row "fstrack changes --since T --json" warm fw "$n_fst" fw
row "find -newer MARKER" warm nw "$n_find" fw
row "fstrack changes --since T --json" cold fc "$n_fst" fc
row "find -newer MARKER" cold nc "$n_find" fc
bench_out "  fstrack's answer covers the $(sort -u "$WORK/changed.list" | wc -l) changed paths: $([ "$missed" = 0 ] && echo yes || echo "NO, $missed missed")"
bench_out "  find -newer lists modified/created files and changed dirs; not deleted names, not renamed files (rename keeps mtime)"

bench_out ""
bench_out "ingest: event storms (base s: without fstrackd; gen s: with it; drain s: until it has read all)"
bench_out "$(printf '%-22s %8s %7s %7s %8s %7s %8s %7s %4s %8s %6s %7s' what ops "base s" "gen s" slowdown "drain s" events records ovfl events/s "cpu s" "µs/ev")"
for r in "${storm_rows[@]}"; do
	IFS='|' read -r name ops base gen slow drain ev rec ov rate cpu per <<<"$r"
	bench_out "$(printf '%-22s %8s %7s %7s %8s %7s %8s %7s %4s %8s %6s %7s' "$name" "$ops" "$base" "$gen" "$slow" "$drain" "$ev" "$rec" "$ov" "$rate" "$cpu" "$per")"
done
bench_out "  slowdown = gen s / base s (2 CPUs: fstrackd competes with the workload); events/s = events / drain s;"
bench_out "  cpu s = fstrackd's user+system CPU time during the row, µs/ev = per event read."
bench_out "  Live storms: drain s from the storm's start, so events/s is at most the workload's own rate."
bench_out "  Backlog: fstrackd (restarted with --unlimited-queue) SIGSTOPped during the storm, drain s from"
bench_out "  SIGCONT: its reading rate; its slowdown is the kernel's queueing alone."

bench_out ""
bench_out "fstrackd memory"
bench_out "$(printf '%-36s %9s %9s' when "VmRSS KiB" "VmHWM KiB")"
bench_out "$(printf '%-36s %9s %9s' "idle, watching the tree" "$idle_rss" "$idle_hwm")"
for r in "${mem_rows[@]}"; do
	IFS='|' read -r name rss hwm <<<"$r"
	bench_out "$(printf '%-36s %9s %9s' "$name" "$rss" "$hwm")"
done
bench_out "  idle: ${idle_cpu} s CPU in ${IDLE_S} s, $idle_ctx wake-ups (voluntary context switches) in ${IDLE_S} s"

bench_out ""
bench_out "journal (state dir in /tmp: $(findmnt -n -o FSTYPE -T "$WORK"), default --commit-ms and segment size)"
bench_out "$(printf '%-26s %12s %10s %12s' when bytes records bytes/record)"
bench_out "$(printf '%-26s %12s %10s %12s' "after the $CHANGES changes" "$j_bytes0" "$j_recs0" "$(bench_ratio "$j_bytes0" "$j_recs0")")"
bench_out "$(printf '%-26s %12s %10s %12s' "after the storms" "$j_bytes" "$j_recs" "$(bench_ratio "$j_bytes" "$j_recs")")"
