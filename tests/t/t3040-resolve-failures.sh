#!/bin/sh
test_description='a directory the daemon cannot resolve is "unknown", not "gone" (issue 9, case 5)

The daemon used to drop the changes of a directory it could not resolve,
whatever the reason, as if it had been deleted, and its search for the
other names of a hard-linked file skipped what it could not open. Each way
a resolution can fail for real is made here, and the answer must still
cover the change (widened to the scope, "." recursive, is fine):
  - the daemon is out of fds in the middle of a query (its RLIMIT_NOFILE
    lowered under it with prlimit): the hard-link search cannot open the
    scope, for a file changed through a name outside the scope;
  - the changed directory'"'"'s path is longer than PATH_MAX;
  - the changed directory is hidden under a mount made after the change
    (the kernel'"'"'s path for it leads to another inode);
  - for a user: the changed directory became unreadable to it (covered by
    that directory, not widened).
A plain deletion is still a deletion: it does not widen the answer.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

U=fst3040u

test_expect_success ROOT,FANOTIFY,TMPFS,USERADD 'tmpfs, a scope, a directory outside it, the daemon' '
	M=$PWD/m && S=$M/scope && O=$M/outside &&
	fst_mount_tmpfs "$M" &&
	mkdir -p "$S/a/b" "$O" &&
	echo one >"$S/a/f" && ln "$S/a/f" "$O/h" &&
	fst-test-tool workload --seed 3040 --ops 60 "$S/a/b" &&
	trust_user $U &&
	fst_daemon_start &&
	fstrack watch "$S" >/dev/null &&
	test_set_prereq READY
'

test_expect_success READY 'out of fds during a query, at every level: an error or a covering answer' '
	fst_gt_begin starved "$S" &&
	echo two >>"$O/h" &&
	fst-test-tool workload --seed 3040 --start 61 --ops 40 "$S/a/b" &&
	fst-test-tool manifest "$S" >starved.m1 &&
	fstrack token "$S" >/dev/null &&
	hard=$(awk "/Max open files/ { print \$5 }" /proc/$FST_DAEMON_PID/limits) &&
	answered= && refused= && widened= &&
	for free in 0 1 2 3 4 5 6 8
	do
		n=$(trust_starve_limit $FST_DAEMON_PID $free) &&
		prlimit --pid $FST_DAEMON_PID --nofile=$n:$hard &&
		{ "$FSTRACK" changes --since "$(cat starved.tok)" --json "$S" >starved-$free.json 2>starved-$free.err; r=$?; } &&
		prlimit --pid $FST_DAEMON_PID --nofile=$hard:$hard &&
		if test $r = 0
		then
			answered="$answered $free" &&
			fst-test-tool validate starved-$free.json &&
			fst_check_answer starved.m0 starved.m1 starved-$free.json "$free fds left" &&
			if fst-test-tool has starved-$free.json . recursive
			then
				widened="$widened $free"
			fi
		else
			refused="$refused $free:$(sed "s/.*: //" starved-$free.err)"
		fi || return 1
	done &&
	fst_diag "fds left when asked, answered (and covering):${answered:- none} (widened:${widened:- none}); refused:${refused:- none}" &&
	test -n "$answered"
'

test_expect_success READY '... with the fds back, the same question gets the exact answer' '
	fst_changes "$(cat starved.tok)" "$S" fed.json &&
	fst_check_answer starved.m0 starved.m1 fed.json &&
	fst-test-tool has fed.json a/f modified &&
	! fst-test-tool has fed.json . recursive
'

test_expect_success READY 'a directory deeper than PATH_MAX: its change is covered, widened' '
	tok=$(fstrack token "$S") &&
	fst-attack chain "$S/a" 2500 d --touch deep &&
	fst_changes "$tok" "$S" deep.json &&
	fst-test-tool covers deep.json "a/$(printf "d/%.0s" $(seq 1 2500))deep" &&
	fst-test-tool has deep.json . recursive &&
	rm -rf "$S/a/d"
'

test_expect_success READY 'a changed directory hidden under a mount made after the change is covered' '
	fst_gt_begin hidden "$S" &&
	echo new >"$S/a/b/hidden-file" &&
	mkdir "$S/a/b/dir-made" &&
	mount -t tmpfs fst-over "$S/a/b" &&
	{ fst_changes "$(cat hidden.tok)" "$S" hidden.json; r=$?; } &&
	umount "$S/a/b" &&
	test $r = 0 &&
	fst-test-tool covers hidden.json a/b/hidden-file &&
	fst-test-tool covers hidden.json a/b/dir-made &&
	fst_diag "answer with a/b hidden: $(fst-test-tool answer hidden.json dump | head -n 5 | tr "\n" " ")"
'

test_expect_success READY 'a user: a change in a directory it can no longer read is covered by that directory' '
	mkdir -p "$M/u/s/d" && chown -R $U:$U "$M/u" &&
	as_user $U sh -c "echo a >\"$M/u/s/d/f\"" &&
	as_user $U "$FSTRACK" watch "$M/u/s" >/dev/null &&
	tok=$(as_user $U "$FSTRACK" token "$M/u/s") &&
	fst-test-tool manifest "$M/u/s" >user.m0 &&
	as_user $U sh -c "echo b >>\"$M/u/s/d/f\"" &&
	chown root:root "$M/u/s/d" && chmod 700 "$M/u/s/d" &&
	fst-test-tool manifest "$M/u/s" >user.m1 &&
	as_user $U "$FSTRACK" changes --since "$tok" --json "$M/u/s" >user.json &&
	fst_check_answer user.m0 user.m1 user.json &&
	fst-test-tool covers user.json d/f &&
	! fst-test-tool has user.json d/f
'

test_expect_success READY 'a plain deletion is a deletion: the answer is not widened' '
	fst_gt_begin del "$S" &&
	mkdir -p "$S/gone/x/y" && echo z >"$S/gone/x/y/z" &&
	rm -rf "$S/gone" &&
	echo w >"$S/witness" &&
	fst_gt_check del "$S" &&
	! fst-test-tool has del.json . recursive &&
	fst-test-tool has del.json witness created
'

fst_done
