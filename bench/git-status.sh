#!/bin/bash
# SPDX-License-Identifier: MIT
#
# git status with and without an fsmonitor hook (issue 4).
#
# A git repository of GIT_FILES files (default 100000, 100 to a directory,
# committed and packed) on a loop-mounted ext4 image. Each run of
# 'git status' follows GIT_CHANGED (10) files modified (after those of the
# run before were checked out again: 'git checkout -- .'). Timed:
#   no fsmonitor
#   core.fsmonitor = "fstrack --socket S git-fsmonitor"
#   core.fsmonitor = .git/hooks/query-watchman (git's fsmonitor-watchman
#                    sample, Watchman 4.9 from Debian, with JSON::XS)
#   core.fsmonitor = true: git's builtin fsmonitor--daemon (git >= 2.55,
#                    started by the script before its runs, answering on
#                    .git/fsmonitor--daemon.ipc)
#   core.fsmonitor = true with fstrackd answering on that socket
#                    ("fstrack git-daemon enable", git >= 2.55): git's
#                    IPC, no process started, fstrack's tokens
# each with core.untrackedCache false and true, after warm-up runs (the
# first hook call watches the work tree and answers "everything"). After the
# fsmonitor runs and GIT_CHANGED more changes of every kind, 'git status
# --porcelain' must say what it says without the hook (a check, not a
# figure). When watchman is missing or fails, its rows say why.
# Every row runs the same git: $FST_BENCH_GIT, else the git on PATH, when it
# is >= 2.55, else the git >= 2.55 tools/build-git builds from Debian's
# source in BUILD/git; when none can be had, the git on PATH, and the
# builtin daemon's rows say why they are missing.
#
# Usage: [BENCH_QUICK=1] bench/git-status.sh [BUILD]
. "$(dirname "$0")/lib.sh"
bench_init git-status "$@"

if [ "$QUICK" = 1 ]; then
	d_files=5000 d_runs=3 d_warmup=2
else
	d_files=100000 d_runs=20 d_warmup=3
fi
FILES=${GIT_FILES:-$d_files}
bench_find_git_builtin || true
GIT=${BGIT:-$(command -v git)} # every row's git
CHANGED=${GIT_CHANGED:-10}
RUNS=${GIT_RUNS:-$d_runs}
WARMUP=${GIT_WARMUP:-$d_warmup}

MNT=$WORK/mnt
REPO=$MNT/repo
bench_image "$MNT" 8G $((2 * FILES + 65536))

bench_say "making a repository of $FILES files"
"$BT" mktree "$REPO" "$FILES" 100 100
NDIRS=$(find "$REPO" -type d | wc -l)
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost \
	GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
"$GIT" -C "$REPO" init -q
"$GIT" -C "$REPO" config gc.auto 0
"$GIT" -C "$REPO" add -A
"$GIT" -C "$REPO" commit -q -m "$FILES files"
"$GIT" -C "$REPO" repack -adq
"$GIT" -C "$REPO" prune
sync
bench_daemon_start

git_cfg() { "$GIT" -C "$REPO" config "$@"; }
rows=()
declare -A check

# measure LABEL UNTRACKED_CACHE FSMONITOR_HOOK (empty: none)
measure() {
	local label=$1 uc=$2 hook=$3
	git_cfg core.untrackedCache "$uc"
	if [ -n "$hook" ]; then git_cfg core.fsmonitor "$hook"; else git_cfg --unset-all core.fsmonitor || true; fi
	bench_say "git status: $label, untrackedCache=$uc"
	# the files modified for the previous run are checked out again first,
	# so every timed run has exactly CHANGED modified files
	bench_hyperfine hf "$RUNS" "$WARMUP" \
		"$GIT -C $REPO checkout -q -- . && $BT change $REPO $CHANGED modify >/dev/null" "$GIT -C $REPO status"
	rows+=("$label|$uc|$hf_mean|$hf_sd|$hf_min|$hf_median")
	if [ -n "$hook" ]; then
		# with the hook and without it, git must see the same, after
		# changes of every kind (new untracked files, deletions, renames)
		"$BT" change "$REPO" "$CHANGED" mixed >/dev/null
		"$GIT" -C "$REPO" status --porcelain >"$WORK/with"
		"$GIT" -C "$REPO" -c core.fsmonitor= status --porcelain >"$WORK/without"
		"$GIT" -C "$REPO" checkout -q -- .
		"$GIT" -C "$REPO" clean -fq
		if cmp -s "$WORK/with" "$WORK/without"; then
			check[$label/$uc]=same
		else
			check[$label/$uc]="DIFFERENT: $(diff "$WORK/with" "$WORK/without" | grep -c '^[<>]') lines"
			cp "$WORK/with" "$SRC_DIR/bench/out/git-status-with-${label// /-}-$uc.txt"
			cp "$WORK/without" "$SRC_DIR/bench/out/git-status-without-${label// /-}-$uc.txt"
		fi
	fi
}

FST_HOOK="$FSTRACK --socket $WORK/sock git-fsmonitor"
for uc in false true; do
	measure "no fsmonitor" "$uc" ""
	measure "fstrack git-fsmonitor" "$uc" "$FST_HOOK"
done
git_cfg --unset-all core.fsmonitor

# fstrackd on git's own socket: "fstrack git-daemon enable" (with this git
# first in PATH: the command asks it for the socket's path and sets
# core.fsmonitor = true), "disable" afterwards, before git's own daemon.
fi_why=$BGIT_WHY
if [ -z "$fi_why" ] && ! PATH="$(dirname "$GIT"):$PATH" "$FSTRACK" git-daemon enable "$REPO" \
	>"$WORK/git-daemon-enable.log" 2>&1; then
	fi_why="fstrack git-daemon enable failed: $(tail -n 1 "$WORK/git-daemon-enable.log")"
fi
for uc in false true; do
	if [ -n "$fi_why" ]; then
		rows+=("fstrack git-daemon|$uc|||")
		continue
	fi
	measure "fstrack git-daemon" "$uc" true
done
if [ -z "$fi_why" ]; then
	PATH="$(dirname "$GIT"):$PATH" "$FSTRACK" git-daemon disable "$REPO" >/dev/null
fi
git_cfg --unset-all core.fsmonitor || true

# Watchman: a private server (own socket, state and log in $WORK); the hook
# is git's sample with --sockname added to its three watchman calls (this
# watchman 4.9 client does not read WATCHMAN_SOCK).
wm_why=
WM=$WORK/watchman
WM_PID=
if ! perl -MJSON::PP -e 1 2>/dev/null; then
	wm_why="perl has no JSON module for the hook"
elif ! bench_watchman_start; then
	wm_why=$WM_WHY
else
	sample=$("$GIT" --exec-path)/../../share/git-core/templates/hooks/fsmonitor-watchman.sample
	[ -f "$sample" ] || sample=/usr/share/git-core/templates/hooks/fsmonitor-watchman.sample
	hook=$REPO/.git/hooks/query-watchman
	if [ ! -f "$sample" ]; then
		wm_why="git's fsmonitor-watchman.sample hook is not installed"
	else
		sed -e "s|'watchman -j --no-pretty'|'watchman --sockname=\"\$BENCH_WATCHMAN_SOCK\" -j --no-pretty'|" \
			-e "s|qx/watchman |qx/watchman --sockname=\"\\\\\$BENCH_WATCHMAN_SOCK\" |" "$sample" >"$hook"
		chmod +x "$hook"
		if [ "$(grep -c 'sockname=' "$hook")" != 3 ]; then
			wm_why="git's fsmonitor-watchman.sample is not the one this script knows (its watchman calls)"
		fi
	fi
	export BENCH_WATCHMAN_SOCK=$WM_SOCK
fi
for uc in false true; do
	if [ -z "$wm_why" ]; then
		if ! (cd "$REPO" && .git/hooks/query-watchman 2 "" >/dev/null 2>"$WM/hook.err") ||
			! (cd "$REPO" && .git/hooks/query-watchman 2 "" >/dev/null 2>"$WM/hook.err"); then
			wm_why="the watchman hook fails: $(head -n 1 "$WM/hook.err")"
		fi
	fi
	if [ -n "$wm_why" ]; then
		rows+=("watchman hook|$uc|||")
		continue
	fi
	measure "watchman hook" "$uc" ".git/hooks/query-watchman"
done
git_cfg --unset-all core.fsmonitor || true
bench_watchman_stop

# git's builtin daemon: started here (so git never spawns one of its own),
# with core.fsmonitor = true; the first status after the start gets a
# trivial answer ("everything") and scans, as with the hooks.
gb_why=$BGIT_WHY
GB_PID=
if [ -z "$gb_why" ]; then
	"$GIT" -C "$REPO" fsmonitor--daemon run >>"$WORK/git-daemon.log" 2>&1 &
	GB_PID=$!
	bench__pids+=("$GB_PID")
	for _ in $(seq 100); do
		"$BT" git-ipc-query "$REPO/.git/fsmonitor--daemon.ipc" >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$BT" git-ipc-query "$REPO/.git/fsmonitor--daemon.ipc" >/dev/null 2>&1 ||
		gb_why="git's fsmonitor daemon does not answer: $(tail -n 1 "$WORK/git-daemon.log")"
fi
for uc in false true; do
	if [ -n "$gb_why" ]; then
		rows+=("git builtin fsmonitor|$uc|||")
		continue
	fi
	measure "git builtin fsmonitor" "$uc" true
done
git_cfg --unset-all core.fsmonitor || true
if [ -n "$GB_PID" ]; then
	"$GIT" -C "$REPO" fsmonitor--daemon stop >/dev/null 2>&1 || kill -TERM "$GB_PID"
	wait "$GB_PID" || true
fi
bench_daemon_stop

bench_header "git status: repository of $FILES files, $NDIRS dirs, ext4 on loop, $CHANGED files modified before each run"
bench_out "   $("$GIT" --version), watchman $(watchman --version 2>/dev/null || echo -), warm cache, mean and median of $RUNS runs after $WARMUP warm-up runs"
bench_out "$(printf '%-24s %-9s %9s %8s %9s %9s %10s  %s' "fsmonitor" untracked "mean ms" "±sd" "min ms" "median ms" "vs none" "porcelain with hook = without")"
declare -A base
for r in "${rows[@]}"; do
	IFS='|' read -r label uc m sd mn md <<<"$r"
	[ "$label" = "no fsmonitor" ] && base[$uc]=$md
done
for r in "${rows[@]}"; do
	IFS='|' read -r label uc m sd mn md <<<"$r"
	if [ -z "$m" ]; then
		case $label in
		"watchman hook") w=$wm_why ;;
		"fstrack git-daemon") w=$fi_why ;;
		*) w=$gb_why ;;
		esac
		bench_out "$(printf '%-24s %-9s %s' "$label" "cache=$uc" "not measured: $w")"
		continue
	fi
	bench_out "$(printf '%-24s %-9s %9s %8s %9s %9s %10s  %s' "$label" "cache=$uc" "$(ms "$m")" "$(ms "$sd")" "$(ms "$mn")" \
		"$(ms "$md")" "x$(bench_ratio "${base[$uc]}" "$md")" "${check[$label/$uc]:--}")"
done
bench_out "  vs none = median time without fsmonitor (same untracked cache setting) / this median"
bench_out "  fstrack git-daemon: fstrackd answering git's socket (fstrack git-daemon enable), core.fsmonitor = true"
