#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What tracking costs the writers (issue 10): each workload's time until the
# tracker has caught up, divided by the same workload with no tracker, in
# the same run, on ext4 on a loop device.
#
# Workloads (rows), each in its own directory ROOT of the image:
#   create    a tree of WO_CREATE (50000) files of 1 KiB, 100 to a directory
#             (bench-tool mktree: 500 directories in 16 groups)
#   rm        rm -rf of that tree (made before, untimed)
#   rewrite   WO_RW_FILES (1000) files rewritten WO_RW_ROUNDS (200) times each:
#             open O_TRUNC, write 18 bytes, close
#   append    WO_APPENDS (200000) one-byte appends (open O_APPEND, write,
#             close) to 10 files in turn
#   churn     WO_CHURN (50000) empty files created in 100 directories, then
#             all unlinked
#   checkout  git checkout from branch a to branch b of a repository of
#             WO_GIT_FILES (100000) files, b differing by WO_GIT_CHANGED
#             (20000) mixed changes (modified, added, deleted, renamed);
#             back to a untimed before each run. git runs with
#             core.fsmonitor=false in every column, so git's own work is the
#             same everywhere and a column only adds a watcher.
# Configurations (columns):
#   untracked    nothing watches
#   floor A      fanotify-floor: fstrackd's FAN_MARK_FILESYSTEM mark (same
#                init flags and event mask), events read and discarded, in
#                batches 5 ms apart as fstrackd reads them (one wake-up per
#                batch, not per event)
#   floor B      floor A plus an evictable inode ignore mark for FAN_MODIFY |
#                FAN_CLOSE_WRITE on each file after its first event
#   fst tree     fstrackd, 'fstrack watch ROOT'
#   fst other    fstrackd, 'fstrack watch' of another directory of the same
#                filesystem: the writers are outside every scope
#   watchman     Watchman 4.9 (Debian, inotify), 'watch ROOT'
#   git fsmon    git's builtin fsmonitor--daemon on the repository (checkout
#                row only; git >= 2.55: $FST_BENCH_GIT, git on PATH or
#                built by tools/build-git)
# A measurement: make the workload's starting state (untimed, untracked),
# sync, start the tracker and wait until it is ready, then time the
# workload plus the tracker's catch-up:
#   floor A/B    'fanotify-floor sync': the floor reads its queue until empty
#   fstrackd     'fstrack token ROOT': drains the queue, commits the journal
#   watchman     'clock ROOT' with sync_timeout: Watchman's cookie file seen
#   git fsmon    a query on .git/fsmonitor--daemon.ipc (bench-tool
#                git-ipc-query): answered once its cookie file was seen
# then stop the tracker (every configuration starts afresh). WO_REPS (5)
# repetitions; in each the order of the configurations is rotated by one;
# the tables give medians. The checkout row uses the git >= 2.55 when one is
# found (for every column), else the git on PATH.
# Tables: the ratio of the medians; the median of the ratios to the
# untracked run of the same repetition (steadier on a machine whose speed
# drifts); the writer's own CPU time (user + system of the workload's
# processes, until the workload ends: the kernel's fsnotify work is charged
# there) in the same two forms; the trackers' CPU; events read.
#
# Usage: [BENCH_QUICK=1] bench/write-overhead.sh [BUILD]
#   WO_ROWS="create rm ..." and WO_CONFIGS="none floorA ..." pick a subset;
#   WO_FST_ARGS="--commit-ms 1000" gives fstrackd more options.
. "$(dirname "$0")/lib.sh"
bench_init write-overhead "$@"

if [ "$QUICK" = 1 ]; then
	d_reps=1 d_create=2000 d_rw_files=100 d_rw_rounds=20 d_appends=2000 d_churn=2000
	d_git_files=5000 d_git_changed=1000
else
	d_reps=5 d_create=50000 d_rw_files=1000 d_rw_rounds=200 d_appends=200000 d_churn=50000
	d_git_files=100000 d_git_changed=20000
fi
REPS=${WO_REPS:-$d_reps}
CREATE=${WO_CREATE:-$d_create}
RW_FILES=${WO_RW_FILES:-$d_rw_files}
RW_ROUNDS=${WO_RW_ROUNDS:-$d_rw_rounds}
APPENDS=${WO_APPENDS:-$d_appends}
CHURN=${WO_CHURN:-$d_churn}
GIT_FILES=${WO_GIT_FILES:-$d_git_files}
GIT_CHANGED=${WO_GIT_CHANGED:-$d_git_changed}
ROWS=(${WO_ROWS:-create rm rewrite append churn checkout})
CONFIGS=(${WO_CONFIGS:-none floorA floorB fst fst-other watchman git})

[ -x "$BUILD_DIR/fanotify-floor" ] || { echo "write-overhead: no $BUILD_DIR/fanotify-floor: run make first" >&2; exit 1; }
cp "$BUILD_DIR/fanotify-floor" "$WORK/bin/"
FLOOR=$WORK/bin/fanotify-floor

declare -A title=([none]=untracked [floorA]="floor A" [floorB]="floor B" [fst]="fst tree"
	[fst-other]="fst other" [watchman]=watchman [git]="git fsmon")
declare -A why=() # configuration -> why it is not measured

bench_find_git_builtin || why[git]=$BGIT_WHY
GITC=${BGIT:-git} # the git of the checkout row
if bench_watchman_start; then
	WM_VERSION=$(bench_watchman version | jq -r .version)
	bench_watchman_stop
else
	why[watchman]=$WM_WHY
fi

MNT=$WORK/mnt
bench_image "$MNT" 8G $((GIT_FILES + CREATE + CHURN + 4 * RW_FILES + 200000))
mkdir -p "$MNT/other"
REPO=$MNT/git/repo

# ---- the workloads ---------------------------------------------------------

# row_root ROW: the directory the trackers watch for ROW
row_root() {
	if [ "$1" = checkout ]; then echo "$MNT/git"; else echo "$MNT/w-$1"; fi
}

# prep ROW: the starting state, untimed, with no tracker
prep() {
	local root
	root=$(row_root "$1")
	case $1 in
	create) rm -rf "$root/t" ;;
	rm) rm -rf "$root/t" && "$BT" mktree "$root/t" "$CREATE" 100 1024 ;;
	rewrite) rm -rf "$root/r" && "$BT" storm-rewrite "$root/r" "$RW_FILES" 0 >/dev/null ;;
	append) rm -rf "$root/a" && "$BT" append "$root/a" 10 10 ;;
	churn) rm -rf "$root/c" && mkdir -p "$root"/c/c{00..99} ;;
	checkout) "$GITC" -C "$REPO" checkout -q a ;;
	esac
}

work() {
	local root
	root=$(row_root "$1")
	case $1 in
	create) "$BT" mktree "$root/t" "$CREATE" 100 1024 ;;
	rm) rm -rf "$root/t" ;;
	rewrite) "$BT" rewrite "$root/r" "$RW_FILES" "$RW_ROUNDS" ;;
	append) "$BT" append "$root/a" 10 "$APPENDS" ;;
	churn) "$BT" storm-churn "$root/c" "$CHURN" >/dev/null ;;
	checkout) "$GITC" -C "$REPO" checkout -q b ;;
	esac
}

declare -A label=(
	[create]="create $CREATE files of 1 KiB"
	[rm]="rm -rf of those $CREATE files"
	[rewrite]="$((RW_FILES * RW_ROUNDS)) rewrites ($RW_FILES files)"
	[append]="$APPENDS appends to 10 files"
	[churn]="$CHURN creates then unlinks"
	[checkout]="git checkout, $GIT_FILES files"
)

# ---- the trackers: start ROOT, catchup ROOT, stats, stop -------------------
# TRACKER_PID: the process whose CPU time is counted; EV0/EV1: its event
# counter before and after (floors and fstrackd).

TRACKER_PID=

start_floor() {
	bench_floor_start "$FLOOR" "$MNT" "$@" || return 1
	TRACKER_PID=$FLOOR_PID
}

start_fst() {
	rm -rf "$WORK/state"
	# shellcheck disable=SC2086 # options, split on purpose
	bench_daemon_start ${WO_FST_ARGS:-}
	TRACKER_PID=$DAEMON_PID
	"$FSTRACK" watch "$1" >/dev/null
	"$FSTRACK" token "$1" >/dev/null
}
fst_catchup() { "$FSTRACK" token "$1" >/dev/null; }
stop_fst() {
	bench_daemon_stop
	rm -rf "$WORK/state"
}

wm_clock() { echo "[\"clock\", \"$1\", {\"sync_timeout\": 600000}]" | bench_watchman -j --no-pretty >/dev/null; }
start_watchman() {
	bench_watchman_start || { echo "write-overhead: $WM_WHY" >&2; return 1; }
	TRACKER_PID=$WM_PID
	bench_watchman watch "$1" >/dev/null
	wm_clock "$1" # after the crawl
}

git_query() { "$BT" git-ipc-query "$REPO/.git/fsmonitor--daemon.ipc" >/dev/null; }
start_git() {
	"$GITC" -C "$REPO" fsmonitor--daemon run >>"$WORK/git-daemon.log" 2>&1 &
	TRACKER_PID=$!
	bench__pids+=("$TRACKER_PID")
	for _ in $(seq 100); do
		git_query 2>/dev/null && return 0
		kill -0 "$TRACKER_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "write-overhead: git's fsmonitor daemon did not answer: $(tail -n 2 "$WORK/git-daemon.log")" >&2
	return 1
}
stop_git() {
	"$GITC" -C "$REPO" fsmonitor--daemon stop >/dev/null 2>&1 || kill -TERM "$TRACKER_PID"
	wait "$TRACKER_PID" || true
}

start() { # CONFIG ROOT
	TRACKER_PID=
	case $1 in
	none) ;;
	floorA) start_floor ;;
	floorB) start_floor --ignore ;;
	fst) start_fst "$2" ;;
	fst-other) start_fst "$MNT/other" ;;
	watchman) start_watchman "$2" ;;
	git) start_git ;;
	esac
}

catchup() { # CONFIG ROOT
	case $1 in
	none) ;;
	floorA | floorB) bench_floor_sync "$FLOOR" ;;
	fst) fst_catchup "$2" ;;
	fst-other) fst_catchup "$MNT/other" ;;
	watchman) wm_clock "$2" ;;
	git) git_query ;;
	esac
}

# events CONFIG: the tracker's event counter now ("" if it has none)
events() {
	case $1 in
	floorA | floorB) bench_floor_sync "$FLOOR" && bench_floor_field events ;;
	fst | fst-other) bench_status_field '.filesystems[0].events_seen' ;;
	esac
}

stop() {
	case $1 in
	none) ;;
	floorA | floorB) bench_floor_stop ;;
	fst | fst-other) stop_fst ;;
	watchman) bench_watchman_stop ;;
	git) stop_git ;;
	esac
}

# ---- the repository of the checkout row ------------------------------------

for row in "${ROWS[@]}"; do mkdir -p "$(row_root "$row")"; done
if [[ " ${ROWS[*]} " == *" checkout "* ]]; then
	bench_say "making a repository of $GIT_FILES files, branch b with $GIT_CHANGED mixed changes ($($GITC --version))"
	export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost \
		GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
	"$BT" mktree "$REPO" "$GIT_FILES" 100 100
	"$GITC" -C "$REPO" init -q -b a
	for kv in gc.auto=0 core.fsmonitor=false core.untrackedCache=false; do
		"$GITC" -C "$REPO" config "${kv%%=*}" "${kv#*=}"
	done
	"$GITC" -C "$REPO" add -A
	"$GITC" -C "$REPO" commit -q -m "$GIT_FILES files"
	"$GITC" -C "$REPO" checkout -q -b b
	"$BT" change "$REPO" "$GIT_CHANGED" mixed >/dev/null
	"$GITC" -C "$REPO" add -A
	"$GITC" -C "$REPO" commit -q -m "$GIT_CHANGED changes"
	"$GITC" -C "$REPO" checkout -q a
	"$GITC" -C "$REPO" repack -adq
	"$GITC" -C "$REPO" prune
fi
sync

# ---- the runs --------------------------------------------------------------

RAW=$SRC_DIR/bench/out/write-overhead.raw.tsv
printf 'rep\trow\tconfig\tseconds\twriter_cpu_s\tevents\tcpu_s\toverflows\tmarks\tmark_stale\tmark_errors\tvmhwm_kib\n' >"$RAW"
declare -A secs=() wcpus=() evs=() cpus=() ovfl=() marks=() stale=() hwm=()
notes=() # what the floors said on stderr, and fstrackd's overflows, per run

# children_cpu VAR: user + system CPU seconds of this shell's waited-for
# children so far (the builtin 'times', in this shell: not in a $(...))
children_cpu() {
	times >"$WORK/times.out"
	# "0m1.250s 0m0.500s": the second line is the children's user and system time
	printf -v "$1" '%s' "$(awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub(/s$/, "", a[2]); n += a[1] * 60 + a[2] } print n }' "$WORK/times.out")"
}

# the tracker's CPU seconds: from the scheduler (ns) for fstrackd and the
# floors, whose threads live as long as they do; from /proc/PID/stat (10 ms
# ticks, exited threads included) for the others
tracker_cpu() {
	case $1 in
	fst | fst-other | floorA | floorB) bench_cpu_fine "$TRACKER_PID" ;;
	*) bench_cpu "$TRACKER_PID" ;;
	esac
}

measure() { # ROW CONFIG REP
	local row=$1 cfg=$2 rep=$3 root t0 t1 w0 w1 ev0= ev1= cpu0= cpu1= s ev=- cpu=- o=- mk=- st=- er=- hw=-
	root=$(row_root "$row")
	prep "$row"
	sync
	start "$cfg" "$root"
	sync
	if [ -n "$TRACKER_PID" ]; then
		ev0=$(events "$cfg")
		cpu0=$(tracker_cpu "$cfg")
	fi
	children_cpu w0
	t0=$EPOCHREALTIME
	work "$row"
	children_cpu w1
	catchup "$cfg" "$root"
	t1=$EPOCHREALTIME
	if [ -n "$TRACKER_PID" ]; then
		cpu1=$(tracker_cpu "$cfg")
		cpu=$(echo "$cpu1 - $cpu0" | bc)
		case $cfg in
		floorA | floorB)
			ev=$(($(bench_floor_field events) - ev0))
			o=$(bench_floor_field overflows)
			mk=$(bench_floor_field marks)
			st=$(bench_floor_field stale)
			er=$(bench_floor_field errors)
			;;
		fst | fst-other)
			ev1=$(events "$cfg")
			ev=$((ev1 - ev0))
			o=$(bench_status_field '.filesystems[0].overflows')
			hw=$(bench_rss "$TRACKER_PID" | cut -d' ' -f2)
			;;
		esac
	fi
	stop "$cfg"
	if [[ $cfg == floor* ]] && [ -s "$WORK/floor.err" ]; then
		notes+=("rep $rep, $row, ${title[$cfg]}: $(head -n 1 "$WORK/floor.err") ($er errors, $st stale)")
	fi
	if [[ $cfg == fst* ]] && [ "$o" != 0 ]; then
		notes+=("rep $rep, $row, ${title[$cfg]}: $o queue overflows, $ev events read")
	fi
	s=$(echo "$t1 - $t0" | bc)
	secs[$row/$cfg]+="$s "
	wcpus[$row/$cfg]+="$(echo "$w1 - $w0" | bc) "
	evs[$row/$cfg]+="$ev "
	cpus[$row/$cfg]+="$cpu "
	ovfl[$row/$cfg]+="$o "
	marks[$row/$cfg]+="$mk "
	stale[$row/$cfg]+="$st "
	hwm[$row/$cfg]+="$hw "
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$row" "$cfg" "$s" "$(echo "$w1 - $w0" | bc)" "$ev" "$cpu" "$o" "$mk" "$st" "$er" "$hw" >>"$RAW"
	bench_say "rep $rep: $row, ${title[$cfg]}: $s s, events $ev, cpu $cpu s, overflows $o"
}

# the configurations that apply to a row
row_configs() {
	local c
	for c in "${CONFIGS[@]}"; do
		[ -n "${why[$c]:-}" ] && continue
		[ "$c" = git ] && [ "$1" != checkout ] && continue
		echo "$c"
	done
}

for ((rep = 1; rep <= REPS; rep++)); do
	for row in "${ROWS[@]}"; do
		mapfile -t cfgs < <(row_configs "$row")
		n=${#cfgs[@]}
		for ((i = 0; i < n; i++)); do
			measure "$row" "${cfgs[(i + rep - 1) % n]}" "$rep"
		done
	done
done

# ---- the tables ------------------------------------------------------------

# median, largest, sum of the numbers of a line ("-": none)
numbers() { tr ' ' '\n' | awk '$1 != "" && $1 != "-"' | sort -g; }
median() { numbers | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
imedian() { median | awk '{ if ($1 == "-") print; else printf "%.0f\n", $1 }'; } # rounded
maxof() { numbers | awk '{ m = $1 } END { print NR ? m : "-" }'; }
sumof() { numbers | awk '{ s += $1 } END { print NR ? s : "-" }'; }

# per_ev ROW CONFIG: median over the runs of CPU time / events, in µs
per_ev() {
	local cs es i out=() m
	read -ra cs <<<"${cpus[$1/$2]:-}"
	read -ra es <<<"${evs[$1/$2]:-}"
	for i in "${!cs[@]}"; do
		if [[ ${es[i]:-} =~ ^[0-9]+$ ]] && [ "${es[i]}" -gt 0 ] && [ "${cs[i]}" != - ]; then
			out+=("$(echo "scale=4; ${cs[i]} * 1000000 / ${es[i]}" | bc)")
		fi
	done
	m=$(median <<<"${out[*]:-}")
	if [ "$m" = - ]; then echo -; else printf '%.2f' "$m"; fi
}

cols=("${CONFIGS[@]}")
tcols=() # the trackers: every column but untracked
for c in "${cols[@]}"; do
	if [ "$c" != none ]; then tcols+=("$c"); fi
done
line() { # FIRST_COLUMN then one cell per configuration
	local out
	out=$(printf '%-34s' "$1")
	shift
	for cell in "$@"; do out+=$(printf ' %10s' "$cell"); done
	bench_out "$out"
}
heads=()
for c in "${cols[@]}"; do heads+=("${title[$c]}"); done

bench_header "write overhead: each workload until the tracker has caught up; ext4 on loop"
bench_out "   $REPS repetitions (configuration order rotated each time), medians; checkout row: $($GITC --version);" \
	"watchman ${WM_VERSION:--}"
bench_out ""
bench_out "time until caught up, / untracked (untracked: seconds)"
line "workload" "${heads[@]}"
for row in "${ROWS[@]}"; do
	base=$(median <<<"${secs[$row/none]:-}")
	cells=()
	for c in "${cols[@]}"; do
		m=$(median <<<"${secs[$row/$c]:-}")
		if [ "$m" = - ]; then
			cells+=(-)
		elif [ "$c" = none ]; then
			cells+=("$(printf '%.3f s' "$m")")
		elif [ "$base" = - ]; then
			cells+=("$(printf '%.3f s' "$m")")
		else
			cells+=("x$(bench_ratio "$m" "$base")")
		fi
	done
	line "${label[$row]}" "${cells[@]}"
done
for c in "${cols[@]}"; do
	if [ -n "${why[$c]:-}" ]; then bench_out "  ${title[$c]}: not measured: ${why[$c]}"; fi
done
if [[ " ${ROWS[*]} " == *" checkout "* ]]; then
	bench_out "  checkout: git runs with core.fsmonitor=false in every column; git fsmon: this row only"
fi

# median_table CAPTION VAR FORMAT CONFIG...: per workload, the median of VAR[workload/config]
median_table() {
	local caption=$1 fmt=$3 c m row cells hs=()
	local -n vals=$2
	shift 3
	for c in "$@"; do hs+=("${title[$c]}"); done
	bench_out ""
	bench_out "$caption"
	line "workload" "${hs[@]}"
	for row in "${ROWS[@]}"; do
		cells=()
		for c in "$@"; do
			m=$(median <<<"${vals[$row/$c]:-}")
			if [ "$m" = - ]; then cells+=(-); else cells+=("$(printf "$fmt" "$m")"); fi
		done
		line "${label[$row]}" "${cells[@]}"
	done
}
# paired_table CAPTION VAR: per workload and tracker, the median over the
# repetitions of VAR[workload/tracker] / VAR[workload/none] of the same
# repetition (every configuration runs once in each, so the i-th number of
# each is repetition i): a slow spell of the machine hits both sides
paired_table() {
	local caption=$1 c row cells i r a b
	local -n vals=$2
	bench_out ""
	bench_out "$caption"
	line "workload" "${heads[@]:1}"
	for row in "${ROWS[@]}"; do
		cells=()
		read -ra b <<<"${vals[$row/none]:-}"
		for c in "${tcols[@]}"; do
			read -ra a <<<"${vals[$row/$c]:-}"
			r=()
			for i in "${!a[@]}"; do
				if [ -n "${b[i]:-}" ] && [ "${a[i]}" != - ]; then r+=("$(bench_ratio "${a[i]}" "${b[i]}")"); fi
			done
			m=$(median <<<"${r[*]:-}")
			if [ "$m" = - ]; then cells+=(-); else cells+=("x$(printf '%.2f' "$m")"); fi
		done
		line "${label[$row]}" "${cells[@]}"
	done
}
if [[ " ${cols[*]} " == *" none "* ]] && [ "${cols[0]}" = none ]; then
	paired_table "time until caught up, / untracked in the same repetition (median of the ratios)" secs
	paired_table "the writer's own CPU time (user + system, until the workload ends), / untracked in the same repetition (median of the ratios)" wcpus
fi
median_table "median seconds" secs %.3f "${cols[@]}"
median_table "the writer's CPU seconds (median; user + system of the workload's processes)" wcpus %.3f "${cols[@]}"
median_table "tracker CPU seconds during the run (median; user + system)" cpus %.2f "${tcols[@]}"

bench_out ""
bench_out "events read (median), CPU per event, queue overflows (sum of all runs)"
bench_out "$(printf '%-34s %10s %10s %10s %10s %10s %8s %8s %8s %9s' workload "A events" "B events" "B marks" \
	"fst ev" "other ev" "fst µs" "other µs" "overflow" "fst HWM")"
for row in "${ROWS[@]}"; do
	o=0
	for c in floorA floorB fst fst-other; do
		s=$(sumof <<<"${ovfl[$row/$c]:-}")
		if [ "$s" != - ]; then o=$((o + s)); fi
	done
	h=$(maxof <<<"${hwm[$row/fst]:-} ${hwm[$row/fst-other]:-}")
	bench_out "$(printf '%-34s %10s %10s %10s %10s %10s %8s %8s %8s %9s' "${label[$row]}" \
		"$(imedian <<<"${evs[$row/floorA]:-}")" "$(imedian <<<"${evs[$row/floorB]:-}")" \
		"$(imedian <<<"${marks[$row/floorB]:-}")" "$(imedian <<<"${evs[$row/fst]:-}")" \
		"$(imedian <<<"${evs[$row/fst-other]:-}")" "$(per_ev "$row" fst)" "$(per_ev "$row" fst-other)" "$o" \
		"$([ "$h" = - ] && echo - || echo "$h KiB")")"
done
bench_out "  events: read by the floor / fstrackd (status events_seen) from the workload's start to the catch-up;"
bench_out "  µs = fstrackd's CPU time (the scheduler's count, in ns) / events, per run, median;"
bench_out "  B marks: ignore marks floor B added in the run; overflow: floors and fstrackd together;"
bench_out "  fst HWM: fstrackd's VmHWM at the end of a run, largest of the row. Raw figures: bench/out/write-overhead.raw.tsv"
for n in "${notes[@]}"; do bench_out "  $n"; done
