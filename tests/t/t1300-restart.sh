#!/bin/sh
test_description='restart: tokens and scopes survive SIGTERM and a new start

A token issued before the daemon is stopped with SIGTERM and started again
must still give an answer that covers every change (before the stop, while
it was down, after the start), or a fresh one; docs/design.md says downtime
is repaired by the catch-up scan and must not degrade to fresh, which is
checked on its own. The watched directories come back by themselves.'

. "$(dirname "$0")"/../lib/test-lib.sh

restart() {
	fst_daemon_stop && fst_daemon_start "$@"
}

test_expect_success ROOT,FANOTIFY 'start the daemon' '
	fst_daemon_start
'

seed=1300
for fs in tmpfs ext4 xfs
do
	seed=$(($seed + 10))
	fst_fs_vars $fs

	test_expect_success $fs_prereq "$fs: mount, a tree, watch" '
		fst_watch_new_fs $fs "$M" "$S" fst-test-tool workload --seed $seed --ops 150 "$S"
	'

	test_expect_success $P "$fs: changes before a restart and after it are covered" '
		fst_gt_begin $fs-a "$S" &&
		fst-test-tool workload --seed $seed --start 151 --ops 60 "$S" &&
		restart &&
		fst-test-tool workload --seed $seed --start 211 --ops 60 "$S" &&
		fst_gt_check $fs-a "$S"
	'

	test_expect_success $P "$fs: ... and the answer is not fresh" '
		fst_not_fresh $fs-a
	'

	test_expect_success $P "$fs: the watched directory comes back by itself" '
		fstrack status --json >status.json &&
		fst-test-tool json status.json scopes "*" path >scopes &&
		grep -x "$S" scopes &&
		fstrack token "$S" >/dev/null
	'

	test_expect_success $P "$fs: changes while the daemon is down are covered" '
		fst_gt_begin $fs-b "$S" &&
		fst_daemon_stop &&
		fst-test-tool workload --seed $seed --start 271 --ops 80 "$S" &&
		fst_daemon_start &&
		fst_gt_check $fs-b "$S"
	'

	test_expect_success $P "$fs: ... and the answer is not fresh" '
		fst_not_fresh $fs-b
	'

	test_expect_success $P "$fs: a token returned by changes survives two restarts" '
		fst-test-tool answer $fs-b.json token >$fs-c.tok &&
		cp $fs-b.m1 $fs-c.m0 &&
		fst-test-tool workload --seed $seed --start 351 --ops 30 "$S" &&
		restart &&
		fst-test-tool workload --seed $seed --start 381 --ops 30 "$S" &&
		restart &&
		fst-test-tool workload --seed $seed --start 411 --ops 30 "$S" &&
		fst_gt_check $fs-c "$S" &&
		fst_not_fresh $fs-c
	'

	test_expect_success $P "$fs: the first token still covers everything, after four restarts" '
		cp $fs-a.tok $fs-d.tok &&
		cp $fs-a.m0 $fs-d.m0 &&
		fst_gt_check $fs-d "$S" &&
		fst_not_fresh $fs-d
	'
done

fst_done
