#!/bin/sh
test_description='power loss: FS_IOC_SHUTDOWN without log flush

The daemon'"'"'s state lives on a filesystem of its own. A power loss is
kill -9 of the daemon, then FS_IOC_SHUTDOWN (no log flush) of both the
tracked filesystem and the state filesystem, unmount, mount again (log
replay), a new start: every change the tracked filesystem kept must be
covered by the answer for a token issued before (tokens name durable
journal positions). Then the tracked filesystem alone crashes, or is
changed while mounted elsewhere, while the daemon runs.'

. "$(dirname "$0")"/../lib/test-lib.sh

# kill -9 of the daemon, both filesystems shut down without log flush,
# mounted again (log replay), the daemon started again.
power_loss() {
	fst_daemon_kill &&
	fst-test-tool shutdown "$M" &&
	fst-test-tool shutdown "$PWD/statefs" &&
	fst_remount "$M" &&
	fst_remount "$PWD/statefs" &&
	fst_daemon_start
}

test_expect_success ROOT,FANOTIFY,LOOP,EXT4,SHUTDOWN 'the state on a filesystem of its own; start' '
	fst_mount_image ext4 "$PWD/statefs" &&
	FST_STATE=$PWD/statefs/state &&
	fst_daemon_start &&
	test_set_prereq STATEFS
'

seed=2200
for fs in ext4 xfs
do
	seed=$(($seed + 1))
	fst_fs_vars $fs
	P=$P,SHUTDOWN,STATEFS

	test_expect_success "$fs_prereq,SHUTDOWN,STATEFS" "$fs: mount, a tree, watch" '
		fst_watch_new_fs $fs "$M" "$S" fst-test-tool workload --seed $seed --ops 150 "$S" &&
		sync
	'

	test_expect_success $P "$fs: power loss after 100 operations (some written back)" '
		sync &&
		fst_gt_begin $fs-a "$S" &&
		fst-test-tool workload --seed $seed --start 151 --ops 60 --log ops.log "$S" &&
		sync &&
		fst-test-tool workload --seed $seed --start 211 --ops 40 --log ops.log "$S" &&
		sleep 0.2 &&
		power_loss &&
		fst_gt_check $fs-a "$S"
	'

	test_expect_success $P "$fs: ... and the answer is not fresh" '
		fst_not_fresh $fs-a
	'

	test_expect_success $P "$fs: power loss right after an answer: its token still works" '
		sync &&
		fst_gt_begin $fs-b "$S" &&
		fst-test-tool workload --seed $seed --start 251 --ops 50 "$S" &&
		fst_changes "$(cat $fs-b.tok)" "$S" mid.json &&
		fst-test-tool answer mid.json token >$fs-c.tok &&
		sync &&
		fst-test-tool manifest "$S" >$fs-c.m0 &&
		fst-test-tool workload --seed $seed --start 301 --ops 50 "$S" &&
		power_loss &&
		fst_gt_check $fs-c "$S" &&
		fst_not_fresh $fs-c
	'

	test_expect_success $P "$fs: power loss with nothing synced since the token" '
		sync &&
		fst_gt_begin $fs-d "$S" &&
		fst-test-tool workload --seed $seed --start 351 --ops 80 "$S" &&
		power_loss &&
		fst_gt_check $fs-d "$S" &&
		fst_not_fresh $fs-d
	'

	# The daemon keeps running; only the tracked filesystem goes away and
	# comes back. An answer must cover everything, or be a clear error.
	test_expect_success $P "$fs: the tracked filesystem crashes while the daemon runs" '
		sync &&
		fst_gt_begin $fs-e "$S" &&
		fst-test-tool workload --seed $seed --start 451 --ops 50 "$S" &&
		fst-test-tool shutdown "$M" &&
		fst_remount "$M" &&
		fst-test-tool workload --seed $seed --start 501 --ops 20 "$S" &&
		fst_gt_check_or_error $fs-e "$S"
	'

	test_expect_success $P "$fs: changed while mounted elsewhere, mounted back" '
		fstrack watch "$S" >/dev/null 2>&1
		sync &&
		fst_gt_begin $fs-f "$S" &&
		dev=$(findmnt -n -o SOURCE -M "$M") &&
		umount "$M" &&
		mkdir -p elsewhere &&
		mount "$dev" elsewhere &&
		fst-test-tool workload --seed $seed --start 551 --ops 40 elsewhere/scope &&
		umount elsewhere &&
		mount "$dev" "$M" &&
		fst_gt_check_or_error $fs-f "$S"
	'
done

fst_done
