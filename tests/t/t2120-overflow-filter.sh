#!/bin/sh
test_description='an overflow forgets which directories lie under no scope

The scope filter caches "outside every scope" per directory and forgets it
when a directory is renamed: the rename event says the subtree may have
moved into a scope. When the queue overflows, that rename event may be the
one lost. A directory known to be outside, moved into the scope while the
queue overflows, must not have its later changes dropped: the overflow
clears the cache too. The queue is kept small (--queue-events) and the
daemon stopped (SIGSTOP) while the queue fills.'

. "$(dirname "$0")"/../lib/test-lib.sh

M=$PWD/mnt
S=$M/scope
O=$M/outside

outside_count() {
	"$FSTRACK" status --json >st.json &&
	fst-test-tool json st.json filesystems 0 notes_outside_scopes
}

test_expect_success ROOT,FANOTIFY,TMPFS 'a scope, and a directory outside it the filter knows' '
	fst_mount_tmpfs "$M" &&
	mkdir -p "$S" "$O/d" "$M/storm" &&
	echo 0 >"$O/d/f" &&
	fst_daemon_start --queue-events 256 &&
	fstrack watch "$S" >/dev/null &&
	echo 1 >>"$O/d/f" && fstrack token "$S" >/dev/null &&
	before=$(outside_count) &&
	echo 2 >>"$O/d/f" && fstrack token "$S" >/dev/null &&
	after=$(outside_count) &&
	fst_diag "notes dropped as outside: $before, then $after" &&
	test "$after" -gt "$before" &&
	test_set_prereq READY
'

test_expect_success READY 'moved into the scope during an overflow: its later changes are found' '
	kill -STOP "$FST_DAEMON_PID" &&
	fst-test-tool storm "$M/storm" 2000 &&
	mv "$O/d" "$S/d" &&
	kill -CONT "$FST_DAEMON_PID" &&
	fst_gt_begin after "$S" &&
	echo 3 >>"$S/d/f" &&
	fst_gt_check after "$S" &&
	"$FSTRACK" status --json >st2.json &&
	n=$(fst-test-tool json st2.json filesystems 0 overflows) &&
	fst_diag "overflows: $n" &&
	test "$n" -gt 0
'

fst_done
