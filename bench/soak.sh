#!/bin/bash
# SPDX-License-Identifier: MIT
#
# soak: fstrackd under everything at once for SOAK_SECONDS (600; 60 with
# BENCH_QUICK=1), then the ground truth: nothing may be lost.
#
#   bench/soak.sh [BUILD]
#
# On a 1 GiB ext4 image, one scope, and for the whole run:
#   - writers: SOAK_WRITERS (2) fst-test-tool workloads (every kind of
#     operation: create, write, truncate, mmap, renames of files and trees,
#     exchange, links, chmod, xattrs, removal) in their own subdirectories;
#   - clients: SOAK_CLIENTS (2) loops of changes (since the first token),
#     token and status; SOAK_STREAMS (2) stream subscribers that read, and
#     subscribe again when the daemon goes;
#   - every round (SOAK_ROUND, 20 s; 10 s with BENCH_QUICK=1) the writers
#     pause, the scope's manifest is taken and the answer since the last
#     checkpoint's token is checked against it (the coverage rule of
#     fst-test-tool check); then, in turn, the daemon is killed with
#     SIGKILL and started again (writers running), or the filesystem is
#     unmounted, changed through another mount point and mounted back;
#   - at the end, one more answer since the very first token, against the
#     first manifest: across every kill, restart and remount.
# RSS and open fds of the daemon are sampled every half second.
#
# The table: seconds, operations, queries (and failed ones: the daemon was
# down or the scope away), stream lines, restarts, remounts, peak RSS, peak
# fds, answers checked, fresh answers, misses. A miss is a changed path an
# answer does not cover: the run fails (exit 1) when there is one.
. "$(dirname "$0")/lib.sh"
bench_init soak "$@"

build=${1:-${FSTRACK_BUILD:-build}}
case "$build" in
/*) ;;
*) build=$SRC_DIR/$build ;;
esac
[ -x "$build/fst-test-tool" ] || { echo "soak: no $build/fst-test-tool: run make first" >&2; exit 1; }
cp "$build/fst-test-tool" "$WORK/bin/"
TT=$WORK/bin/fst-test-tool

if [ "$QUICK" = 1 ]; then
	SECONDS_TOTAL=${SOAK_SECONDS:-60}
	ROUND=${SOAK_ROUND:-10}
else
	SECONDS_TOTAL=${SOAK_SECONDS:-600}
	ROUND=${SOAK_ROUND:-20}
fi
WRITERS=${SOAK_WRITERS:-2}
CLIENTS=${SOAK_CLIENTS:-2}
STREAMS=${SOAK_STREAMS:-2}

MNT=$WORK/mnt
ALT=$WORK/alt
S=$MNT/scope
CK=$WORK/check
mkdir -p "$CK" "$ALT"

bench_image "$MNT" 1G 262144
DEV=$(findmnt -n -o SOURCE -M "$MNT")
mkdir "$S"
for w in $(seq 1 "$WRITERS"); do
	mkdir "$S/w$w"
	"$TT" workload --seed "$((7000 + w))" --ops 300 --max-entries 1500 "$S/w$w" >/dev/null
done

start_daemon() {
	bench_daemon_start
	echo "$DAEMON_PID" >"$WORK/daemon.pid"
}
start_daemon
"$FSTRACK" watch "$S" >/dev/null

# ---- the helpers that run all along (each stops when $WORK/stop exists) ----

# writer ID DIR: workload batches of 200 operations; pauses (and says so
# in paused.ID) while $WORK/pause exists
writer() {
	local id=$1 dir=$2 i=0
	while [ ! -e "$WORK/stop" ]; do
		if [ -e "$WORK/pause" ]; then
			: >"$WORK/paused.$id"
			sleep 0.05
			continue
		fi
		rm -f "$WORK/paused.$id"
		"$TT" workload --seed "$((7000 + id))" --start "$((300 + i * 200 + 1))" --ops 200 \
			--max-entries 1500 "$dir" >/dev/null 2>>"$WORK/writer.$id.err" ||
			echo "batch $i failed" >>"$WORK/writer.$id.err"
		i=$((i + 1))
		echo "$((i * 200))" >"$WORK/writer.$id.ops"
	done
}

# client ID: changes since the first token, token, status; one line per
# query in client.ID.ok or client.ID.fail
client() {
	local id=$1 q
	while [ ! -e "$WORK/stop" ]; do
		for q in changes token status; do
			case $q in
			changes) "$FSTRACK" changes --since "$(cat "$CK/0.tok")" --wait-ms 2000 --json "$S" >/dev/null 2>&1 ;;
			token) "$FSTRACK" token "$S" >/dev/null 2>&1 ;;
			status) "$FSTRACK" status --json >/dev/null 2>&1 ;;
			esac && echo "$q" >>"$WORK/client.$id.ok" || echo "$q" >>"$WORK/client.$id.fail"
		done
		sleep 0.1
	done
}

# streamer ID: a stream subscriber that reads; subscribes again when it ends
streamer() {
	local id=$1 tok
	while [ ! -e "$WORK/stop" ]; do
		if tok=$("$FSTRACK" token "$S" 2>/dev/null); then
			"$FSTRACK" stream --since "$tok" "$S" 2>/dev/null | wc -l >>"$WORK/stream.$id.lines" || true
		fi
		sleep 0.2
	done
}

# sampler: peak RSS (KiB) and open fds of the daemon, whichever pid it has now
sampler() {
	local pid r f peak_r=0 peak_f=0
	while [ ! -e "$WORK/stop" ]; do
		pid=$(cat "$WORK/daemon.pid" 2>/dev/null || true)
		if [ -n "$pid" ] && r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) &&
			[ -n "$r" ] && f=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l); then
			[ "$r" -le "$peak_r" ] || peak_r=$r
			[ "$f" -le "$peak_f" ] || peak_f=$f
			echo "$peak_r $peak_f" >"$WORK/peaks"
		fi
		sleep 0.5
	done
}

pause_writers() {
	local w
	: >"$WORK/pause"
	for w in $(seq 1 "$WRITERS"); do
		while [ ! -e "$WORK/paused.$w" ]; do sleep 0.05; done
	done
}

resume_writers() {
	rm -f "$WORK/pause"
}

# ---- checks ------------------------------------------------------------------

checked=0
misses=0
fresh=0

# answer SINCE_TOKEN FILE: changes --json, waiting for catch-up scans as long as it takes
answer() {
	local n=0
	until "$FSTRACK" changes --since "$1" --json "$S" >"$2" 2>"$2.err"; do
		n=$((n + 1))
		[ "$n" -lt 30 ] || { echo "soak: no answer: $(cat "$2.err")" >&2; return 1; }
		sleep 1
	done
}

# check FROM TO: the answer since FROM's token covers FROM's manifest -> TO's
check() {
	local from=$1 to=$2 a=$CK/$1-$2.json n
	answer "$(cat "$CK/$from.tok")" "$a"
	checked=$((checked + 1))
	[ "$(jq -r .fresh "$a")" = true ] && fresh=$((fresh + 1))
	if ! "$TT" check --before "$CK/$from.m" --after "$CK/$to.m" --answer "$a" >"$a.check" 2>&1; then
		n=$(grep -c "FALSE NEGATIVE" "$a.check" || true)
		misses=$((misses + ${n:-1}))
		bench_say "MISS in the answer since checkpoint $from (to $to):"
		grep "FALSE NEGATIVE" "$a.check" | head -n 5 >&2
	fi
	jq -r .token "$a" >"$CK/$to.tok"
}

# ---- the run -------------------------------------------------------------------

"$FSTRACK" token "$S" >"$CK/0.tok"
"$TT" manifest "$S" >"$CK/0.m"
cp "$CK/0.tok" "$CK/first.tok"
rm -f "$WORK/stop" "$WORK/pause"

for w in $(seq 1 "$WRITERS"); do writer "$w" "$S/w$w" & bench__pids+=($!); done
for c in $(seq 1 "$CLIENTS"); do client "$c" & bench__pids+=($!); done
for s in $(seq 1 "$STREAMS"); do streamer "$s" & bench__pids+=($!); done
sampler & bench__pids+=($!)

restarts=0
remounts=0
busy=0
round=0
t0=$(date +%s)
bench_say "soak for $SECONDS_TOTAL s: $WRITERS writers, $CLIENTS clients, $STREAMS streams, a check every $ROUND s"
while [ $(($(date +%s) - t0)) -lt "$SECONDS_TOTAL" ]; do
	round=$((round + 1))
	if [ $((round % 2)) = 1 ]; then
		# kill -9 in the middle of the round, the writers running
		sleep $((ROUND / 2))
		kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
		sleep 1
		start_daemon
		restarts=$((restarts + 1))
		sleep $((ROUND / 2))
	else
		sleep "$ROUND"
	fi
	pause_writers
	"$TT" manifest "$S" >"$CK/$round.m"
	check $((round - 1)) "$round"
	if [ $((round % 2)) = 0 ]; then
		# a remount, with changes through another mount point meanwhile
		# the daemon (answering the clients, scanning) may have a file of it
		# open for a moment: try again
		n=0
		until umount "$MNT" 2>/dev/null; do
			n=$((n + 1))
			if [ "$n" -ge 100 ]; then
				bench_say "cannot unmount $MNT for 10 s; who holds it:"
				fuser -vm "$MNT" 2>&1 | grep -v "Cannot stat" >&2 || true
				exit 1
			fi
			sleep 0.1
		done
		busy=$((busy + n))
		mount "$DEV" "$ALT"
		"$TT" workload --seed "$((9000 + round))" --ops 50 --max-entries 1500 "$ALT/scope/w1" >/dev/null
		umount "$ALT"
		mount "$DEV" "$MNT"
		remounts=$((remounts + 1))
	fi
	resume_writers
	bench_say "round $round: $checked answers checked, $misses misses, $restarts restarts, $remounts remounts"
done

pause_writers
: >"$WORK/stop"
"$TT" manifest "$S" >"$CK/end.m"
check "$round" end
cp "$CK/first.tok" "$CK/first-all.tok"
cp "$CK/0.m" "$CK/first-all.m"
check first-all end
elapsed=$(($(date +%s) - t0))
sleep 1

ops=0
for w in $(seq 1 "$WRITERS"); do ops=$((ops + $(cat "$WORK/writer.$w.ops" 2>/dev/null || echo 0))); done
ops=$((ops + 50 * remounts))
qok=$(cat "$WORK"/client.*.ok 2>/dev/null | wc -l)
qfail=$(cat "$WORK"/client.*.fail 2>/dev/null | wc -l)
slines=$(cat "$WORK"/stream.*.lines 2>/dev/null | awk '{ n += $1 } END { print n + 0 }')
read -r peak_rss peak_fds <"$WORK/peaks"
werr=$(cat "$WORK"/writer.*.err 2>/dev/null | wc -l)

bench_header "soak: everything at once for ${SECONDS_TOTAL} s, then the ground truth"
bench_out "   $WRITERS writers (fst-test-tool workload), $CLIENTS query clients, $STREAMS stream subscribers,"
bench_out "   kill -9 and restart, remount with changes through another mount point; ext4 on a loop device"
bench_out ""
printf -v line '%8s %10s %9s %8s %8s %8s %8s %9s %9s %8s %6s %6s' \
	seconds operations queries failed streamed restarts remounts "peak RSS" "peak fds" checked fresh misses
bench_out "$line"
printf -v line '%8s %10s %9s %8s %8s %8s %8s %9s %9s %8s %6s %6s' \
	"$elapsed" "$ops" "$qok" "$qfail" "$slines" "$restarts" "$remounts" "$((peak_rss / 1024)) MiB" \
	"$peak_fds" "$checked" "$fresh" "$misses"
bench_out "$line"
bench_out ""
bench_out "   failed queries: asked while the daemon was down or the filesystem away; streamed: lines read"
bench_out "   by the subscribers; checked: answers compared with the manifests (one per round, the last one"
bench_out "   since the first token, across every restart and remount); misses must be 0"
bench_out "   umount was refused (EBUSY: the daemon had a file of it open) $busy times and tried again"
[ "$werr" = 0 ] || bench_out "   writer errors: $werr (see $WORK/writer.*.err)"
[ "$misses" = 0 ]
