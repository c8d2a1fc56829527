#!/bin/sh
test_description='answers under load: a change done before the request is in the answer

A workload runs in the background on the same filesystem while the test,
again and again, makes one change and at once asks for the changes since
the previous answer: the change must be there (the protocol: every change
whose system call returned before the request was sent is covered). At the
end, with the workload stopped, one answer since the first token must
cover everything (the ground truth).'

. "$(dirname "$0")"/../lib/test-lib.sh

N=${FST_CONCURRENT_ROUNDS:-60}

# The tree: a background workload's directory, the marks, and noise outside.
make_tree() {
	mkdir -p "$S/bg" "$S/marks" "$M/outside" &&
	fst-test-tool workload --seed $seed --ops 100 "$S/bg"
}

test_expect_success ROOT,FANOTIFY 'start the daemon' '
	fst_daemon_start
'

seed=1400
for fs in tmpfs ext4
do
	seed=$(($seed + 1))
	fst_fs_vars $fs

	test_expect_success $fs_prereq "$fs: mount, a tree, watch" '
		fst_watch_new_fs $fs "$M" "$S" make_tree
	'

	test_expect_success $P "$fs: $N changes, each asked for at once, under load" '
		fst_gt_begin $fs-all "$S" &&
		tok=$(cat $fs-all.tok) &&
		{
			fst-test-tool workload --seed $seed --start 101 --ops 100000 "$S/bg" &
		} &&
		bg=$! &&
		{
			fst-test-tool workload --seed $(($seed + 50)) --ops 100000 "$M/outside" &
		} &&
		bg2=$! &&
		test_when_finished "kill $bg $bg2 2>/dev/null; wait $bg $bg2 2>/dev/null; :" &&
		i=4 missed= &&
		while test $i -lt $(($N + 4))
		do
			case $(($i % 4)) in
			0) echo $i >"$S/marks/m$i" && what=created ;;
			1) echo $i >>"$S/marks/m$(($i - 1))" && what=modified ;;
			2) chmod 600 "$S/marks/m$(($i - 2))" && what=attrib ;;
			3) mv "$S/marks/m$(($i - 3))" "$S/marks/r$i" && what=renamed_to ;;
			esac &&
			case $what in
			created) p=marks/m$i ;;
			modified) p=marks/m$(($i - 1)) ;;
			attrib) p=marks/m$(($i - 2)) ;;
			renamed_to) p=marks/r$i ;;
			esac &&
			fst_changes "$tok" "$S" a$i.json &&
			if ! fst-test-tool has a$i.json "$p" $what 2>miss
			then
				echo "round $i: $p ($what) done before the request, not in the answer:"
				cat miss
				missed="$missed $i"
			fi &&
			tok=$(fst-test-tool answer a$i.json token) &&
			i=$(($i + 1)) || return 1
		done &&
		{ kill $bg $bg2; wait $bg $bg2; true; } &&
		fst_gt_check $fs-all "$S" &&
		test -z "$missed"
	'
done

fst_done
