#!/bin/sh
test_description='ground truth: thousands of random operations, no false negative

On each filesystem, rounds of: a deterministic random workload of every
kind of operation in the watched directory (and some noise beside it, and
moves across its border), a manifest, "changes --since" the previous
round'"'"'s token, and the coverage check against the manifests. Then one
answer since the very first token must cover everything at once.

FST_GT_ROUNDS and FST_GT_OPS change the size (default 20 x 100).'

. "$(dirname "$0")"/../lib/test-lib.sh

ROUNDS=${FST_GT_ROUNDS:-20}
OPS=${FST_GT_OPS:-100}

stat_field() {
	sed -n "s/^stats:.*[ (]$1=\([0-9.]*\).*/\1/p" "$2"
}

# move_first DIR TO WHAT LOG: move the first entry of DIR (if any) to TO, say so in LOG
move_first() {
	for e in "$1"/*
	do
		break
	done
	if test -e "$e" || test -L "$e"
	then
		mv -T "$e" "$2" &&
		echo "$3 $e -> $2" >>"$4"
	fi
}

# gt_rounds FS SEED: the rounds on $S; details of every miss in $d/report
gt_rounds() {
	fs=$1 seed=$2 d=$PWD/gt-$1
	mkdir -p "$d" ${NOISE:+"$NOISE"} &&
	: >"$d/report" &&
	t0=$(fstrack token "$S") &&
	fst-test-tool manifest "$S" >"$d/m0" || return 1
	tok=$t0 r=1 misses=0 fresh=0 differing=0 reported=0 hits=0
	while test $r -le $ROUNDS
	do
		start=$((($r - 1) * $OPS + 1))
		end=$(($start + $OPS - 1))
		fst-test-tool workload --seed $seed --start $start --ops $OPS \
			--log "$d/ops.log" "$S" &&
		if test -n "$NOISE"
		then
			fst-test-tool workload --seed $(($seed + 500)) --start $r --ops 5 \
				--max-entries 40 --log "$d/noise.log" "$NOISE" || return 1
			# Across the border: one entry in, one entry out.
			move_first "$NOISE" "$S/in$r" "$end move-in" "$d/ops.log" &&
			move_first "$S" "$NOISE/out$r" "$end move-out" "$d/ops.log" || return 1
		fi
		fst-test-tool manifest "$S" >"$d/m$r" &&
		fst_changes "$tok" "$S" "$d/a$r.json" || return 1
		if ! fst-test-tool check --before "$d/m$(($r - 1))" --after "$d/m$r" \
			--answer "$d/a$r.json" >"$d/c$r" 2>&1
		then
			misses=$(($misses + 1))
			{
				echo "FALSE NEGATIVES: $fs, seed $seed, round $r (ops $start..$end):"
				grep -v "^covered:" "$d/c$r"
				echo "the operations of that round:"
				awk -v s=$start -v e=$end '$1 >= s && $1 <= e' "$d/ops.log"
				echo "repro: fst-test-tool workload --seed $seed --ops $(($start - 1)) DIR;" \
					"token; fst-test-tool workload --seed $seed --start $start" \
					"--ops $OPS DIR; changes (then the moves above)"
			} >>"$d/report"
		fi
		test "$(fst-test-tool answer "$d/a$r.json" fresh)" = false || fresh=$(($fresh + 1))
		differing=$(($differing + $(stat_field differing "$d/c$r")))
		reported=$(($reported + $(stat_field reported "$d/c$r")))
		hits=$(($hits + $(stat_field hits "$d/c$r")))
		tok=$(fst-test-tool answer "$d/a$r.json" token) || return 1
		r=$(($r + 1))
	done
	precision=$(awk -v h=$hits -v r=$reported 'BEGIN { printf "%.3f", r ? h / r : 1 }')
	fst_diag "precision $fs: $precision ($hits of $reported reported paths really changed;" \
		"$differing changed paths in $ROUNDS rounds of $OPS operations, seed $seed)"

	# One answer for the whole run.
	fst_changes "$t0" "$S" "$d/all.json" &&
	if ! fst-test-tool check --before "$d/m0" --after "$d/m$ROUNDS" --answer "$d/all.json" \
		>"$d/call" 2>&1
	then
		misses=$(($misses + 1))
		{
			echo "FALSE NEGATIVES: $fs, seed $seed, since the first token (all rounds):"
			grep -v "^covered:" "$d/call"
		} >>"$d/report"
	fi
	if test $misses != 0
	then
		cat "$d/report"
		echo "$misses answers missed changes ($fs, seed $seed); operations in $d/ops.log"
		return 1
	fi
	if test $fresh != 0
	then
		echo "$fresh of $ROUNDS answers were fresh: nothing was really checked"
		return 1
	fi
}

test_expect_success ROOT,FANOTIFY 'start the daemon' '
	fst_daemon_start
'

seed=1000
for fs in tmpfs ext4 xfs btrfs
do
	seed=$(($seed + 1))
	fst_fs_vars $fs
	# On xfs the watched directory is the root of the filesystem (no room
	# for noise beside it); elsewhere a directory with noise beside it.
	if test $fs = xfs
	then
		S=$M NOISE=
	else
		NOISE=$M/noise
	fi

	test_expect_success $fs_prereq "$fs: mount and watch" '
		fst_watch_new_fs $fs "$M" "$S"
	'

	test_expect_success $P "$fs: $(($ROUNDS * $OPS)) random operations, every change covered" '
		gt_rounds $fs $seed
	'

	test_expect_success $P "$fs: unwatch and unmount" '
		fstrack unwatch "$S" &&
		umount "$M"
	'
done

fst_done
