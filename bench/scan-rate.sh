#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Catch-up scan rate against GNU find, on a real filesystem.
#
# Makes a sparse ext4 image (IMG_SIZE, default 4G), loop-mounts it, makes a
# tree of N inodes (default 1000000), takes a marker, changes K files
# (default 1000), then times, warm and cold (after drop_caches):
#   - the scan (bench/scan-bench.c over src/daemon/scan.c) for each thread
#     count in THREADS (default "0 1 2 4 8 16"; 0 = the scan's default),
#   - the scan with max_open_dirs=1 (every directory reopened by handle),
#   - find DIR -newer MARKER.
# Each figure is the best of REPEAT runs (default 3). FS=tmpfs puts the
# tree on a tmpfs instead: warm figures only, but immune to other jobs'
# drop_caches on a shared machine. Root only (mount, drop_caches).
# Everything is removed on exit, failure included.
# Usage: [N=...] [K=...] [THREADS="..."] [REPEAT=...] [FS=ext4|tmpfs] bench/scan-rate.sh
set -euo pipefail

N=${N:-1000000}
K=${K:-1000}
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-"0 1 2 4 8 16"}
IMG_SIZE=${IMG_SIZE:-4G}
FS=${FS:-ext4}
SRC=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" = 0 ] || { echo "scan-rate: must run as root" >&2; exit 1; }

OUT=$(mktemp -d /tmp/fst-scan-rate.XXXXXX)
MNT="$OUT/mnt"
LOOP=
cleanup() {
	set +e
	if mountpoint -q "$MNT"; then
		umount "$MNT" || umount -l "$MNT"
	fi
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -I "$SRC/include" -I "$SRC/src" \
	"$SRC/bench/scan-bench.c" "$SRC/src/daemon/scan.c" -lpthread -o "$OUT/scan-bench"
BENCH="$OUT/scan-bench"

mkdir "$MNT"
case $FS in
ext4)
	truncate -s "$IMG_SIZE" "$OUT/img"
	# enough inodes, every table initialised now (no background init while timing)
	mkfs.ext4 -q -N $((N + N / 8 + 16384)) -E lazy_itable_init=0,lazy_journal_init=0 \
		"$OUT/img"
	LOOP=$(losetup --find --show --direct-io=on "$OUT/img")
	mount "$LOOP" "$MNT"
	CACHES="warm cold"
	;;
tmpfs)
	mount -t tmpfs -o size=4G,nr_inodes=$((N + N / 8 + 16384)) fst-scan-rate "$MNT"
	CACHES=warm
	;;
*) echo "scan-rate: FS must be ext4 or tmpfs" >&2; exit 2 ;;
esac

t0=$(date +%s.%N)
"$BENCH" mktree "$MNT/tree" "$N"
t1=$(date +%s.%N)
echo "tree made in $(echo "$t1 - $t0" | bc) s"
sync
sleep 1.1 # past the coarse clock tick of the last change
touch "$MNT/marker"
"$BENCH" change "$MNT/tree" "$K"
sync

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# run_scan THREADS [MAX_OPEN_DIRS]; prints: seconds inodes emitted
run_scan() {
	local line
	line=$("$BENCH" scan "$MNT/tree" "$MNT/marker" "$1" "${2:-0}")
	set -- $line
	echo "$1 $3 $4"
}

run_find() {
	local t0 t1 n
	t0=$(date +%s.%N)
	n=$(find "$MNT/tree" -newer "$MNT/marker" | wc -l)
	t1=$(date +%s.%N)
	echo "$(echo "$t1 - $t0" | bc) $N $n"
}

declare -A SECS
rows=()
record() { # name cache seconds inodes emitted
	SECS["$1/$2"]=$3
	rows+=("$1|$2|$3|$4|$5")
}

# best of REPEAT runs of "$@" (dropping caches first when cold): the
# minimum is the figure least disturbed by whatever else runs on the machine
best() {
	local cache=$1 best_line= line i
	shift
	for ((i = 0; i < REPEAT; i++)); do
		[ "$cache" = cold ] && cold
		line=$("$@")
		if [ -z "$best_line" ] || (($(echo "${line%% *} < ${best_line%% *}" | bc))); then
			best_line=$line
		fi
	done
	echo "$best_line"
}

# warm: one untimed pass fills the caches
run_scan 0 >/dev/null
for cache in $CACHES; do
	for t in $THREADS; do
		set -- $(best $cache run_scan "$t")
		if [ "$t" = 0 ]; then name="scan default"; else name="scan threads=$t"; fi
		record "$name" $cache "$1" "$2" "$3"
	done
	# every directory queued by file handle (the fd budget exhausted)
	set -- $(best $cache run_scan 0 1)
	record "scan by-handle" $cache "$1" "$2" "$3"
	set -- $(best $cache run_find)
	record "find -newer" $cache "$1" "$2" "$3"
done

printf '\n%s inodes (%s changed), %s, %s CPUs, kernel %s, best of %s, load %s\n' \
	"$N" "$K" "$FS" "$(nproc)" "$(uname -r)" "$REPEAT" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %-5s %9s %12s %8s %9s\n' what cache seconds inodes/s found "find/this"
for row in "${rows[@]}"; do
	IFS='|' read -r name cache secs inodes emitted <<<"$row"
	rate=$(echo "$inodes / $secs" | bc)
	ratio=$(echo "scale=2; ${SECS["find -newer/$cache"]} / $secs" | bc)
	printf '%-18s %-5s %9.3f %12s %8s %9s\n' "$name" "$cache" "$secs" "$rate" "$emitted" "$ratio"
done
