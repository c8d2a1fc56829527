#!/bin/sh
test_description='event queue overflow: no change is lost

The kernel queue is made small (max_queued_events, restored at the end)
before the daemon starts. The daemon is stopped with SIGSTOP while a storm
of creations and deletions and a random workload run, so the queue surely
overflows; after SIGCONT the answer must cover everything (the catch-up
scan), must not be fresh, and status must count the overflow. Then a storm
with the daemon running.'

. "$(dirname "$0")"/../lib/test-lib.sh

QUEUE=256

# The tree: a directory for the storms, one for the workload.
make_tree() {
	mkdir -p "$S/storm" "$S/w" &&
	fst-test-tool workload --seed $seed --ops 150 "$S/w"
}

# overflows MOUNT: the overflow count status gives for the filesystem at MOUNT
overflows() {
	fstrack status --json >status.json &&
	fst-test-tool json status.json filesystems "*" mount >mounts &&
	fst-test-tool json status.json filesystems "*" overflows >counts &&
	paste mounts counts | awk -v m="$1" -F "\t" '$1 == m { print $2; found = 1 }
		END { exit !found }'
}

test_expect_success ROOT,FANOTIFY 'a small kernel queue; start the daemon' '
	fst_set_sysctl /proc/sys/fs/fanotify/max_queued_events $QUEUE &&
	fst_daemon_start
'

seed=2100
for fs in tmpfs ext4 xfs
do
	seed=$(($seed + 1))
	fst_fs_vars $fs

	test_expect_success $fs_prereq "$fs: mount, a tree, watch" '
		fst_watch_new_fs $fs "$M" "$S" make_tree
	'

	test_expect_success $P "$fs: overflow while the daemon is stopped: everything covered" '
		before=$(overflows "$M") &&
		fst_gt_begin $fs-stop "$S" &&
		kill -STOP $FST_DAEMON_PID &&
		test_when_finished "kill -CONT $FST_DAEMON_PID" &&
		fst-test-tool storm "$S/storm" 2000 &&
		fst-test-tool workload --seed $seed --start 151 --ops 200 --log ops.log "$S/w" &&
		kill -CONT $FST_DAEMON_PID &&
		fst_gt_check $fs-stop "$S" &&
		after=$(overflows "$M") &&
		if test "$after" -le "$before"
		then
			echo "status counts no overflow ($before, then $after): was the queue bounded?"
			return 1
		fi
	'

	test_expect_success $P "$fs: ... and the answer is not fresh" '
		fst_not_fresh $fs-stop
	'

	test_expect_success $P "$fs: the next token after the overflow is exact again" '
		fst_gt_begin $fs-next "$S" &&
		fst-test-tool workload --seed $seed --start 351 --ops 50 "$S/w" &&
		fst_gt_check $fs-next "$S" &&
		fst_not_fresh $fs-next
	'

	test_expect_success $P "$fs: a storm with the daemon running: everything covered" '
		fst_gt_begin $fs-run "$S" &&
		fst-test-tool storm "$S/storm" 20000 &&
		fst-test-tool workload --seed $seed --start 401 --ops 100 "$S/w" &&
		fst_gt_check $fs-run "$S" &&
		fst_not_fresh $fs-run &&
		fst_diag "$fs: overflows counted by status: $(overflows "$M")"
	'
done

fst_done
