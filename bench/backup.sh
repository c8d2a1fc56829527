#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fstrack backup against plain rsync (issue 4).
#
# A tree of BACKUP_FILES files (default 100000, 100 to a directory) on a
# loop-mounted ext4 image; two copies in /tmp (another filesystem, as a
# backup disk would be): one kept by 'fstrack backup SRC DST', one by
# 'rsync -a --delete SRC/ DST2/'. After the initial copy of each (timed
# once), every timed run follows BACKUP_CHANGES (100) files changed
# (modify, create, delete, rename in turn), warm cache and cold
# (drop_caches after the changes). After the runs, both copies must equal
# the source (rsync -n -i -c finds nothing: a check, not a figure).
#
# Usage: [BENCH_QUICK=1] bench/backup.sh [BUILD]
. "$(dirname "$0")/lib.sh"
bench_init backup "$@"

if [ "$QUICK" = 1 ]; then
	d_files=5000 d_runs=3 d_cold=1
else
	d_files=100000 d_runs=10 d_cold=5
fi
FILES=${BACKUP_FILES:-$d_files}
CHANGES=${BACKUP_CHANGES:-100}
RUNS=${BACKUP_RUNS:-$d_runs}
COLD_RUNS=${BACKUP_COLD_RUNS:-$d_cold}

MNT=$WORK/mnt
SRC=$MNT/src
DST=$WORK/dst-fstrack
DST2=$WORK/dst-rsync
bench_image "$MNT" 8G $((FILES + 65536))

bench_say "making $FILES files in $SRC"
"$BT" mktree "$SRC" "$FILES" 100 100
NDIRS=$(find "$SRC" -type d | wc -l)
sync
bench_daemon_start

FST_BACKUP="$FSTRACK backup $SRC $DST"
RSYNC="rsync -a --delete $SRC/ $DST2/"
bench_say "initial copies"
# single runs, one after the other; the sync keeps the first one's
# write-back out of the second one's time
t0=$(date +%s.%N)
$FST_BACKUP >&2
t1=$(date +%s.%N)
sync
t2=$(date +%s.%N)
$RSYNC >&2
t3=$(date +%s.%N)
sync
init_fst=$(echo "$t1 - $t0" | bc)
init_rsync=$(echo "$t3 - $t2" | bc)

CHANGE="$BT change $SRC $CHANGES mixed >/dev/null"
COLD="$CHANGE; sync; echo 3 >/proc/sys/vm/drop_caches"
# one warm-up run each: the first incremental run of the second command
# would otherwise carry the changes made before the first command's runs
bench_say "incremental, warm cache"
bench_hyperfine fw "$RUNS" 1 "$CHANGE" "$FST_BACKUP"
bench_hyperfine rw "$RUNS" 1 "$CHANGE" "$RSYNC"
bench_say "incremental, cold cache"
bench_hyperfine fc "$COLD_RUNS" 1 "$COLD" "$FST_BACKUP"
bench_hyperfine rc "$COLD_RUNS" 1 "$COLD" "$RSYNC"

# the copies must equal the source: names, types, contents (checksums), modes, times
"$BT" change "$SRC" "$CHANGES" mixed >/dev/null
$FST_BACKUP >&2
$RSYNC >&2
diff_fst=$(rsync -a -n -i -c --delete --exclude=/.fstrack-backup "$SRC/" "$DST/" | wc -l)
diff_rsync=$(rsync -a -n -i -c --delete "$SRC/" "$DST2/" | wc -l)
if [ "$diff_fst" != 0 ]; then
	rsync -a -n -i -c --delete --exclude=/.fstrack-backup "$SRC/" "$DST/" >"$SRC_DIR/bench/out/backup-differences.txt"
fi
bench_daemon_stop

bench_header "backup: tree of $FILES files, $NDIRS dirs (ext4 on loop) to /tmp, $CHANGES files changed (mixed) before each run"
bench_out "   $(rsync --version | head -n 1)"
bench_out "$(printf '%-34s %-5s %9s %8s %9s %10s' what cache "mean s" "±sd" "min s" "vs fstrack")"
row() { # label cache var ref_var
	local m sd mn ref
	eval "m=\${$3_mean} sd=\${$3_sd} mn=\${$3_min} ref=\${$4_mean}"
	bench_out "$(printf '%-34s %-5s %9.3f %8.3f %9.3f %10s' "$1" "$2" "$m" "$sd" "$mn" "x$(bench_ratio "$m" "$ref")")"
}
bench_out "$(printf '%-34s %-5s %9.3f %8s %9s %10s' "fstrack backup SRC DST (initial)" warm "$init_fst" - - x1.00)"
bench_out "$(printf '%-34s %-5s %9.3f %8s %9s %10s' "rsync -a --delete (initial)" warm "$init_rsync" - - "x$(bench_ratio "$init_rsync" "$init_fst")")"
row "fstrack backup SRC DST" warm fw fw
row "rsync -a --delete SRC/ DST/" warm rw fw
row "fstrack backup SRC DST" cold fc fc
row "rsync -a --delete SRC/ DST/" cold rc fc
bench_out "  runs: $RUNS warm, $COLD_RUNS cold, each after one warm-up run"
bench_out "  copy equals the source afterwards (rsync -n -i -c): fstrack backup $([ "$diff_fst" = 0 ] && echo yes || echo "NO, $diff_fst differences (bench/out/backup-differences.txt)"), rsync $([ "$diff_rsync" = 0 ] && echo yes || echo "NO, $diff_rsync differences")"
