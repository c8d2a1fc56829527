#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Request latency with many scopes (issue 11): a daemon with SC_SCOPES
# scopes (default 10000), all but 10 of whose directories are then removed
# (vanished, as git's test suite leaves them behind; the grace period is
# long, so they stay), next to a daemon with 2 scopes, in the same run, on
# a tmpfs. Timed with hyperfine (SC_RUNS runs, default 30):
#   fstrack token LIVE                   a live scope's token
#   fstrack changes --since T LIVE       after 10 changes in it
#   fstrack status --json                lists every scope (each looked at)
# and the time to watch the scopes (one connection, pipelined requests).
#
# Usage: [BENCH_QUICK=1] bench/scopes.sh [BUILD]
. "$(dirname "$0")/lib.sh"
bench_init scopes "$@"

if [ "$QUICK" = 1 ]; then d_scopes=500 d_runs=5; else d_scopes=10000 d_runs=30; fi
SCOPES=${SC_SCOPES:-$d_scopes}
RUNS=${SC_RUNS:-$d_runs}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

BENCH_HF_SHELL=none # requests of a millisecond or two: no shell around them
MNT=$WORK/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=1g,nr_inodes=2000000 fst-bench "$MNT"
bench__mounts+=("$MNT")

# watch_all DIR...: one connection, every watch request pipelined; prints seconds
watch_all() {
	"$PY" - "$WORK/sock" "$@" <<-\EOF
	import json, socket, sys, time
	sock, dirs = sys.argv[1], sys.argv[2:]
	s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	s.connect(sock)
	t0 = time.monotonic()
	f = s.makefile("rwb")
	for d in dirs:
	    f.write((json.dumps({"v": 1, "op": "watch", "path": d}) + "\n").encode())
	f.flush()
	for d in dirs:
	    r = json.loads(f.readline())
	    if not r.get("ok"):
	        sys.exit("watch %s: %s" % (d, r.get("error")))
	print("%.3f" % (time.monotonic() - t0))
	EOF
}

# rtt OP DIR: the median of 300 requests on one connection (no process start), in ms
rtt() {
	"$PY" - "$WORK/sock" "$1" "$2" <<-\EOF
	import json, socket, sys, time
	sock, op, path = sys.argv[1:4]
	s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	s.connect(sock)
	f = s.makefile("rwb")
	def req(o):
	    f.write((json.dumps(o) + "\n").encode())
	    f.flush()
	    return json.loads(f.readline())
	since = req({"v": 1, "op": "token", "path": path})["token"]
	ts = []
	for i in range(300):
	    o = {"v": 1, "op": op, "path": path}
	    if op == "changes":
	        o["since"] = since
	    t0 = time.perf_counter()
	    req(o)
	    ts.append(time.perf_counter() - t0)
	ts.sort()
	print("%.4f" % (ts[len(ts) // 2] * 1000))
	EOF
}

# run N: a daemon with N scopes (N - 10 of them vanished when N > 10); one table row
rows=()
run() {
	local n=$1 dirs=() i t w live=$MNT/s$1/d0
	mkdir -p "$MNT/s$n"
	for ((i = 0; i < n; i++)); do dirs+=("$MNT/s$n/d$i"); done
	mkdir "${dirs[@]}"
	rm -rf "$WORK/state"
	bench_daemon_start --vanished-grace-s 86400
	bench_say "$n scopes: watching"
	w=$(watch_all "${dirs[@]}")
	if [ "$n" -gt 10 ]; then
		bench_say "$n scopes: removing all but 10 of their directories"
		for ((i = 10; i < n; i++)); do rmdir "${dirs[i]}"; done
	fi
	t=$("$FSTRACK" token "$live")
	for ((i = 0; i < 10; i++)); do echo "$i" >"$live/f$i"; done
	bench_hyperfine tok "$RUNS" 3 "" "$FSTRACK token $live"
	bench_hyperfine chg "$RUNS" 3 "" "$FSTRACK changes --since $t $live"
	bench_hyperfine st "$RUNS" 1 "" "$FSTRACK status --json"
	rtok=$(rtt token "$live")
	rchg=$(rtt changes "$live")
	read -r rss hwm < <(bench_rss "$DAEMON_PID")
	bench_daemon_stop
	rows+=("$n $w $tok_mean $chg_mean $st_mean $rtok $rchg $rss")
	eval "tok_$n=$tok_mean chg_$n=$chg_mean st_$n=$st_mean rtok_$n=$rtok rchg_$n=$rchg"
}

run 2
run "$SCOPES"

bench_header "Request latency by number of scopes ($SCOPES scopes: all but 10 vanished), tmpfs"
bench_out "   fstrack CLI (mean of $RUNS runs, process start included) | one connection (median of 300)"
bench_out "$(printf '%-8s %9s %10s %11s %10s | %10s %11s %9s' scopes 'watch all' 'token ms' 'changes ms' 'status ms' 'token ms' 'changes ms' 'RSS KiB')"
for r in "${rows[@]}"; do
	set -- $r
	bench_out "$(printf '%-8s %8ss %10s %11s %10s | %10s %11s %9s' "$1" "$2" "$(ms "$3")" "$(ms "$4")" "$(ms "$5")" "$6" "$7" "$8")"
done
bench_out "$(printf '%-8s %9s %10s %11s %10s | %10s %11s' "ratio" "" "x$(bench_ratio "$(eval echo \$tok_$SCOPES)" "$tok_2")" \
	"x$(bench_ratio "$(eval echo \$chg_$SCOPES)" "$chg_2")" "x$(bench_ratio "$(eval echo \$st_$SCOPES)" "$st_2")" \
	"x$(bench_ratio "$(eval echo \$rtok_$SCOPES)" "$rtok_2")" "x$(bench_ratio "$(eval echo \$rchg_$SCOPES)" "$rchg_2")")"
bench_out "   token/changes find a directory's scope by handle, O(depth): no scope is resolved;"
bench_out "   status looks at every scope (is its directory still there?)."
