#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fstrackd's Watchman socket next to Watchman 4.9 (issue 12) on the same
# tree: both watch it at the same time.
#
# For each size of WM_SIZES (200000 and 1000000 files; 5000 and 20000
# with BENCH_QUICK=1), a tree of 100 files a directory on a loop-mounted
# ext4 image, then:
#   start tracking   "watch" of the tree, ms: fstrack adds a scope (no
#                    crawl), Watchman 4.9 crawls the tree before it
#                    answers; median of WM_WATCH_RUNS (3), a watch-del
#                    between runs
#   RSS              of fstrackd and of the Watchman server, KiB, after
#                    the watch and the queries
#   since latency    a clock from each, WM_CHANGES (100) mixed changes
#                    (modify, create, delete, rename), then WM_RUNS (15)
#                    queries since the clock (fields name, exists, new,
#                    size, mtime_ms) over one connection: median and
#                    minimum ms, the same client (pywatchman, BSER v2) for
#                    both
#   jest-haste-map   its file map of the tree built with its Watchman
#                    crawler (fresh: the full list of files) through each
#                    socket, and with its own node crawler for reference;
#                    median of WM_JEST_RUNS (5) builds; npm's
#                    jest-haste-map is installed into BUILD/node-bench
# ratios: Watchman's figure / fstrack's.
#
# Needs /usr/bin/watchman 4.9 (Debian watchman), /usr/bin/python3 with
# pywatchman; node and npm for the jest rows (without them the rows say so).
#
# Usage: [BENCH_QUICK=1] bench/watchman.sh [BUILD]
. "$(dirname "$0")/lib.sh"
bench_init watchman "$@"
BUILD_DIR=${1:-${FSTRACK_BUILD:-build}}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$SRC_DIR/$BUILD_DIR ;; esac

if [ "$QUICK" = 1 ]; then
	d_sizes="5000 20000" d_runs=5 d_jest=3
else
	d_sizes="200000 1000000" d_runs=15 d_jest=5
fi
SIZES=${WM_SIZES:-$d_sizes}
CHANGES=${WM_CHANGES:-100}
RUNS=${WM_RUNS:-$d_runs}
WATCH_RUNS=${WM_WATCH_RUNS:-3}
JEST_RUNS=${WM_JEST_RUNS:-$d_jest}
PY=/usr/bin/python3
LAT=$SRC_DIR/bench/wm-latency.py

[ -x /usr/bin/watchman ] || { echo "watchman: needs /usr/bin/watchman (apt-get install watchman)" >&2; exit 1; }
"$PY" -c "import pywatchman" || { echo "watchman: needs pywatchman for $PY (python3-pywatchman)" >&2; exit 1; }
cp "$BUILD_DIR/fstrack-watchman" "$WORK/bin/"
WSOCK=$WORK/watchman.sock # fstrackd's, next to $WORK/sock
WM_SOCK=$WORK/wm49/sock    # Watchman 4.9's
WM_VERSION=$(HOME=$WORK /usr/bin/watchman --version)

# jest-haste-map, once per build directory
JEST_DIR=$BUILD_DIR/node-bench
jest_ok=
if command -v node >/dev/null && command -v npm >/dev/null; then
	if [ ! -f "$JEST_DIR/node_modules/jest-haste-map/package.json" ]; then
		bench_say "installing jest-haste-map into $JEST_DIR"
		mkdir -p "$JEST_DIR"
		npm install --prefix "$JEST_DIR" --no-audit --no-fund --silent jest-haste-map >&2 || true
	fi
	[ -f "$JEST_DIR/node_modules/jest-haste-map/package.json" ] && jest_ok=1
fi
JEST_VERSION=$(jq -r .version "$JEST_DIR/node_modules/jest-haste-map/package.json" 2>/dev/null || echo -)

# Watchman's inotify needs a watch per directory: raise the limit, restore it at exit.
old_watches=$(cat /proc/sys/fs/inotify/max_user_watches)
restore_watches() { echo "$old_watches" >/proc/sys/fs/inotify/max_user_watches; }
trap 'rc=$?; restore_watches; (exit $rc); bench__cleanup' EXIT
echo 1048576 >/proc/sys/fs/inotify/max_user_watches

wm49_start() {
	mkdir -p "$WORK/wm49"
	chmod 700 "$WORK/wm49"
	HOME=$WORK TMPDIR=$WORK /usr/bin/watchman --foreground --sockname="$WM_SOCK" \
		--logfile="$WORK/wm49/log" --statefile="$WORK/wm49/state" --pidfile="$WORK/wm49/pid" \
		--no-save-state >/dev/null 2>&1 &
	WM_PID=$!
	bench__pids+=("$WM_PID")
	for _ in $(seq 200); do [ -S "$WM_SOCK" ] && return 0; sleep 0.05; done
	echo "watchman: Watchman 4.9 did not start; its log:" >&2
	tail -n 20 "$WORK/wm49/log" >&2
	return 1
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# watch_ms SOCK ROOT: median ms of WATCH_RUNS watches (a watch-del before each but the first)
watch_ms() {
	local i
	for i in $(seq "$WATCH_RUNS"); do
		[ "$i" = 1 ] || "$PY" "$LAT" "$1" watch-del "$2"
		"$PY" "$LAT" "$1" watch "$2"
	done | median
}

# jest_s SOCK|node ROOT: median seconds of JEST_RUNS builds, and the files found
jest_s() {
	local i how=watchman
	[ "$1" = node ] && how=node
	for i in $(seq "$JEST_RUNS"); do
		rm -rf "$WORK/jest-cache"
		mkdir -p "$WORK/jest-cache"
		WATCHMAN_SOCK=$1 PATH=$WORK/bin:$PATH node "$SRC_DIR/bench/jest-crawl.js" \
			"$JEST_DIR/node_modules" "$2" txt "$how" "$WORK/jest-cache" || return 1
	done >"$WORK/jest.out"
	echo "$(cut -d' ' -f1 "$WORK/jest.out" | median) $(tail -n 1 "$WORK/jest.out" | cut -d' ' -f2)"
}

ln -sf fstrack-watchman "$WORK/bin/watchman" # jest-haste-map looks for a watchman binary
bench_daemon_start
wm49_start

for N in $SIZES; do
	MNT=$WORK/mnt$N
	TREE=$MNT/tree
	bench_image "$MNT" $((N / 1000 * 12 + 512))M $((N + N / 50 + 65536))
	bench_say "making $N files in $TREE"
	"$BT" mktree "$TREE" "$N" 100 100
	NDIRS=$(find "$TREE" -type d | wc -l)
	sync

	bench_say "start tracking: fstrack"
	fst_watch=$(watch_ms "$WSOCK" "$TREE")
	bench_say "start tracking: Watchman $WM_VERSION (a crawl)"
	wm_watch=$(watch_ms "$WM_SOCK" "$TREE")

	c_fst=$("$PY" "$LAT" "$WSOCK" clock "$TREE")
	c_wm=$("$PY" "$LAT" "$WM_SOCK" clock "$TREE")
	bench_say "changing $CHANGES files"
	"$BT" change "$TREE" "$CHANGES" mixed "$WORK/changed.list" >&2
	sync
	sleep 1 # Watchman settles (settle 20 ms); fstrack needs nothing, its queries sync
	read -r fst_med fst_min fst_n fst_fresh < <("$PY" "$LAT" "$WSOCK" since "$TREE" "$c_fst" "$RUNS")
	read -r wm_med wm_min wm_n wm_fresh < <("$PY" "$LAT" "$WM_SOCK" since "$TREE" "$c_wm" "$RUNS")

	jf=- jw=- jn=- nf=- nw=- nn=-
	if [ -n "$jest_ok" ]; then
		bench_say "jest-haste-map: crawls through fstrack, Watchman, node"
		read -r jf nf < <(jest_s "$WSOCK" "$TREE") || jf=failed
		read -r jw nw < <(jest_s "$WM_SOCK" "$TREE") || jw=failed
		read -r jn nn < <(jest_s node "$TREE") || jn=failed
	fi
	read -r fst_rss _ < <(bench_rss "$DAEMON_PID")
	read -r wm_rss _ < <(bench_rss "$(cat "$WORK/wm49/pid" 2>/dev/null || echo "$WM_PID")")

	bench_header "Watchman's clients: fstrackd's Watchman socket next to Watchman $WM_VERSION, $N files, $NDIRS dirs, ext4 on loop"
	bench_out "   both watch the tree at once; the same client for both (pywatchman, BSER v2)"
	bench_out "$(printf '%-44s %12s %12s %8s' what fstrack "watchman" "ratio")"
	bench_out "$(printf '%-44s %12s %12s %8s' "start tracking (watch), median ms" "$fst_watch" "$wm_watch" "x$(bench_ratio "$wm_watch" "$fst_watch")")"
	bench_out "$(printf '%-44s %12s %12s %8s' "since ($CHANGES changes), median ms" "$fst_med" "$wm_med" "x$(bench_ratio "$wm_med" "$fst_med")")"
	bench_out "$(printf '%-44s %12s %12s %8s' "since ($CHANGES changes), min ms" "$fst_min" "$wm_min" "x$(bench_ratio "$wm_min" "$fst_min")")"
	bench_out "$(printf '%-44s %12s %12s %8s' "  files in the answer (fresh?)" "$fst_n $fst_fresh" "$wm_n $wm_fresh" "")"
	bench_out "$(printf '%-44s %12s %12s %8s' "RSS of the daemon, KiB" "$fst_rss" "$wm_rss" "x$(bench_ratio "$wm_rss" "$fst_rss")")"
	if [ -n "$jest_ok" ]; then
		bench_out "$(printf '%-44s %12s %12s %8s' "jest-haste-map build, Watchman crawl, s" "$jf" "$jw" "x$(bench_ratio "$jw" "$jf")")"
		bench_out "$(printf '%-44s %12s %12s %8s' "  files in the map" "$nf" "$nw" "")"
		bench_out "   jest-haste-map's own node crawler: $jn s ($nn files); jest-haste-map $JEST_VERSION, node $(node --version)"
	else
		bench_out "   jest-haste-map rows: node or npm missing, or npm could not install jest-haste-map"
	fi
	bench_out "   watch: fstrack adds a scope; Watchman crawls before it answers. RSS after watch, queries and crawls;"
	bench_out "   medians of $WATCH_RUNS watches, $RUNS queries, $JEST_RUNS builds; ratio = watchman / fstrack"

	"$PY" "$LAT" "$WM_SOCK" watch-del "$TREE"
	"$PY" "$LAT" "$WSOCK" watch-del "$TREE"
	rm -rf "$WORK/jest-cache"
done
