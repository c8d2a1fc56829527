#!/bin/bash
# SPDX-License-Identifier: MIT
#
# git status through fstrackd's git IPC against git's builtin fsmonitor
# daemon, the fstrack hook and no fsmonitor (issue 12 item 8), interleaved.
#
# git-status.sh times each fsmonitor's runs one after the other; on a loaded
# machine the load moves between them and the rows are not comparable to a
# few per cent. Here four copies of one repository of GIT_FILES (100000)
# files, 100 to a directory, on a loop-mounted ext4 image, one per
# fsmonitor, take turns run by run (the order turns too): before each
# timed 'git status' the files modified for the run before are checked out
# again and GIT_CHANGED (10) files modified. The copies:
#   none      no fsmonitor
#   hook      core.fsmonitor = "fstrack git-fsmonitor"
#   ipc       fstrackd on git's socket ("fstrack git-daemon enable",
#             core.fsmonitor = true)
#   builtin   git's own fsmonitor--daemon (core.fsmonitor = true)
# GIT_RUNS (15) timed runs each after GIT_WARMUP (3), with core.untrackedCache
# true, then false. Reported per copy: the median wall time of 'git status'
# (and the quartiles), the median time git spent asking its fsmonitor (its
# trace2 region fsm_client/fsm_hook "query"), and the median against git's
# builtin daemon, and the difference ipc - builtin taken round by round
# (both under the same load). After the runs, 'git status --porcelain' with each
# fsmonitor must equal it without one (a check, not a figure).
# Needs a git >= 2.55 ($FST_BENCH_GIT, else the git on PATH, else one built
# by tools/build-git), as git-status.sh; without one it says why and
# measures nothing.
#
# Usage: [BENCH_QUICK=1] bench/git-ipc.sh [BUILD]
. "$(dirname "$0")/lib.sh"
bench_init git-ipc "$@"

if [ "$QUICK" = 1 ]; then
	d_files=5000 d_runs=3 d_warmup=1
else
	d_files=100000 d_runs=15 d_warmup=3
fi
FILES=${GIT_FILES:-$d_files}
CHANGED=${GIT_CHANGED:-10}
RUNS=${GIT_RUNS:-$d_runs}
WARMUP=${GIT_WARMUP:-$d_warmup}
MODES=(none hook ipc builtin)

if ! bench_find_git_builtin; then
	bench_header "git status through fstrackd's git IPC, interleaved: not measured"
	bench_out "   $BGIT_WHY"
	exit 0
fi
GIT=$BGIT
# fstrack git-daemon runs git from PATH: the same one
export PATH=$(dirname "$GIT"):$PATH

MNT=$WORK/mnt
bench_image "$MNT" 16G $((5 * FILES + 65536))
bench_say "making a repository of $FILES files, and three copies"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost \
	GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
"$BT" mktree "$MNT/none" "$FILES" 100 100
"$GIT" -C "$MNT/none" init -q
"$GIT" -C "$MNT/none" config gc.auto 0
"$GIT" -C "$MNT/none" add -A
"$GIT" -C "$MNT/none" commit -q -m "$FILES files"
"$GIT" -C "$MNT/none" repack -adq
"$GIT" -C "$MNT/none" prune
for m in hook ipc builtin; do
	cp -a "$MNT/none" "$MNT/$m"
done
sync
bench_daemon_start

"$GIT" -C "$MNT/hook" config core.fsmonitor "$FSTRACK --socket $WORK/sock git-fsmonitor"
"$FSTRACK" git-daemon enable "$MNT/ipc" >"$WORK/enable.log" 2>&1 ||
	{ cat "$WORK/enable.log" >&2; exit 1; }
# git's own daemon, started here so that git does not start it in a timed run
"$GIT" -C "$MNT/builtin" config core.fsmonitor true
"$GIT" -C "$MNT/builtin" fsmonitor--daemon run >>"$WORK/git-daemon.log" 2>&1 &
GB_PID=$!
bench__pids+=("$GB_PID")
for _ in $(seq 100); do
	"$BT" git-ipc-query "$MNT/builtin/.git/fsmonitor--daemon.ipc" >/dev/null 2>&1 && break
	sleep 0.1
done
"$BT" git-ipc-query "$MNT/builtin/.git/fsmonitor--daemon.ipc" >/dev/null 2>&1 ||
	{ echo "git-ipc: git's fsmonitor daemon does not answer" >&2; exit 1; }

# one timed 'git status' of copy m: "wall_us query_us" appended to $WORK/t.m
run() {
	local m=$1 r=$MNT/$1 s e q
	"$GIT" -C "$r" checkout -q -- . && "$BT" change "$r" "$CHANGED" modify >/dev/null
	rm -f "$WORK/perf"
	s=$EPOCHREALTIME
	GIT_TRACE2_PERF=$WORK/perf "$GIT" -C "$r" status >/dev/null
	e=$EPOCHREALTIME
	q=$(awk -F'|' '/region_leave/ && /\| fsm_(client|hook) / && /label:query/ { s += $7 }
		END { printf "%d", s * 1000000 }' "$WORK/perf")
	echo "$(((${e/./} - ${s/./})))" "${q:-0}" >>"$WORK/t.$m"
}

# the median, first and third quartile of column c of file f, in ms
quart() {
	sort -n -k"$2,$2" "$1" | awk -v c="$2" '{ a[NR] = $c }
		END { printf "%.1f %.1f %.1f", a[int((NR + 1) / 2)] / 1000, a[int((NR + 3) / 4)] / 1000,
			a[int((3 * NR + 1) / 4)] / 1000 }'
}

# ipc minus builtin, round by round (the same load on both): median and quartiles, ms
paired() {
	paste "$WORK/t.ipc" "$WORK/t.builtin" | awk '{ print $1 - $3 }' | sort -n |
		awk '{ a[NR] = $1 } END { printf "%.1f %.1f %.1f", a[int((NR + 1) / 2)] / 1000,
			a[int((NR + 3) / 4)] / 1000, a[int((3 * NR + 1) / 4)] / 1000 }'
}

declare -A res check pair
for uc in true false; do
	bench_say "untrackedCache=$uc: $WARMUP warm-up and $RUNS timed runs of each, interleaved"
	for m in "${MODES[@]}"; do
		"$GIT" -C "$MNT/$m" config core.untrackedCache "$uc"
		rm -f "$WORK/t.$m"
	done
	for ((i = 0; i < WARMUP + RUNS; i++)); do
		for ((k = 0; k < ${#MODES[@]}; k++)); do
			m=${MODES[$(((i + k) % ${#MODES[@]}))]}
			run "$m"
			((i >= WARMUP)) || sed -i '$d' "$WORK/t.$m"
		done
	done
	pair[$uc]=$(paired)
	for m in "${MODES[@]}"; do
		res[$m/$uc]="$(quart "$WORK/t.$m" 1) $(quart "$WORK/t.$m" 2)"
		[ "$m" = none ] && continue
		"$BT" change "$MNT/$m" "$CHANGED" mixed >/dev/null
		"$GIT" -C "$MNT/$m" status --porcelain >"$WORK/with"
		"$GIT" -C "$MNT/$m" -c core.fsmonitor= status --porcelain >"$WORK/without"
		"$GIT" -C "$MNT/$m" checkout -q -- .
		"$GIT" -C "$MNT/$m" clean -fq
		if cmp -s "$WORK/with" "$WORK/without"; then
			check[$m/$uc]=same
		else
			check[$m/$uc]="DIFFERENT: $(diff "$WORK/with" "$WORK/without" | grep -c '^[<>]') lines"
		fi
	done
done
"$FSTRACK" git-daemon disable "$MNT/ipc" >/dev/null
"$GIT" -C "$MNT/builtin" fsmonitor--daemon stop >/dev/null 2>&1 || kill -TERM "$GB_PID"
wait "$GB_PID" || true
bench_daemon_stop

bench_header "git status, interleaved: $FILES files, $CHANGED modified before each run, ext4 on loop"
bench_out "   $("$GIT" --version), warm cache, $RUNS runs of each after $WARMUP warm-up runs, taking turns"
bench_out "$(printf '%-9s %-11s %9s %15s %10s %10s  %s' fsmonitor untracked "median ms" "quartiles" "query ms" "vs builtin" "porcelain = without")"
for uc in true false; do
	read -r b _ <<<"${res[builtin/$uc]}"
	for m in "${MODES[@]}"; do
		read -r md q1 q3 qm _ <<<"${res[$m/$uc]}"
		bench_out "$(printf '%-9s %-11s %9s %15s %10s %10s  %s' "$m" "cache=$uc" "$md" "$q1-$q3" \
			"$([ "$m" = none ] && echo - || echo "$qm")" "x$(bench_ratio "$b" "$md")" "${check[$m/$uc]:--}")"
	done
done
for uc in true false; do
	read -r d d1 d3 <<<"${pair[$uc]}"
	bench_out "  ipc - builtin, round by round, cache=$uc: median $d ms (quartiles $d1 to $d3)"
done
bench_out "  query ms: the median time git spent asking its fsmonitor (trace2 region \"query\")"
bench_out "  vs builtin: median of git's builtin daemon / this median (above 1: faster than it)"
