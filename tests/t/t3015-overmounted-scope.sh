#!/bin/sh
test_description='a scope hidden by a mount over it during a catch-up scan

A directory another mount hides is alive: its handle still opens it,
only its path leads elsewhere. The catch-up scan after an overflow must
walk it by its handle, not skip it as vanished; else what changed in it
while events were lost is never found once the mount over it goes. The
queue is kept small (--queue-events) and the daemon stopped (SIGSTOP)
while it overflows.'

. "$(dirname "$0")"/../lib/test-lib.sh

M=$PWD/mnt
S=$M/scope

test_expect_success ROOT,FANOTIFY,TMPFS 'a scope' '
	fst_mount_tmpfs "$M" &&
	mkdir -p "$S/d" "$M/storm" &&
	echo 0 >"$S/d/f" &&
	fst_daemon_start --queue-events 256 &&
	fstrack watch "$S" >/dev/null &&
	test_set_prereq READY
'

test_expect_success READY 'changed during an overflow, hidden by a mount during the scan: found' '
	fst_gt_begin hidden "$S" &&
	kill -STOP "$FST_DAEMON_PID" &&
	fst-test-tool storm "$M/storm" 2000 &&
	echo 1 >>"$S/d/f" &&
	fst_mount_tmpfs "$S" &&
	kill -CONT "$FST_DAEMON_PID" &&
	fstrack status --json >st.json &&
	while test "$(fst-test-tool json st.json filesystems 0 scan running)" = true
	do
		sleep 0.1 && fstrack status --json >st.json || return 1
	done &&
	umount "$S" &&
	fst_gt_check hidden "$S" &&
	fst_not_fresh hidden &&
	n=$(fst-test-tool json st.json filesystems 0 overflows) &&
	fst_diag "overflows: $n" &&
	test "$n" -gt 0
'

fst_done
