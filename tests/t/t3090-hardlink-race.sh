#!/bin/sh
test_description='a hard link changed through a name removed before the daemon reads (issue 9, case 10)

The daemon is stopped (SIGSTOP) while a file d/f is linked as e/h, changed
through e/h, and e/h is removed; then it continues (SIGCONT) and reads the
events of a name that is gone. The answer must still cover d/f: what the
event says (its object) is recorded, not what the inode looks like when
the event is read. Deterministic form of a miss t1200 saw under load.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

# race NAME SCOPE CMD: CMD (a shell snippet) while the daemon is stopped
race() {
	fst_gt_begin $1 "$2" &&
	kill -STOP $FST_DAEMON_PID &&
	(cd "$2" && eval "$3")
	r=$?
	kill -CONT $FST_DAEMON_PID
	test $r = 0 && fst_gt_check $1 "$2" && fst_not_fresh $1
}

test_expect_success ROOT,FANOTIFY 'start the daemon' '
	fst_daemon_start
'

for fs in ext4 xfs tmpfs
do
	P=$(fst_fs_prereq $fs)
	test_expect_success $P "$fs: a scope with d/f, e and an unwatched directory o" '
		M=$PWD/$fs && S=$M/scope &&
		fst_mount_fs $fs "$M" &&
		mkdir -p "$S/d" "$S/e" "$M/o" &&
		echo one >"$S/d/f" && echo two >"$S/d/g" && echo three >"$S/d/k" &&
		fstrack watch "$S" >/dev/null &&
		test_set_prereq ${fs}_READY
	'

	test_expect_success ${fs}_READY "$fs: link, append through the link, unlink: d/f covered" '
		race $fs-append "$S" "ln d/f e/h && echo x >>e/h && rm e/h" &&
		fst-test-tool covers $fs-append.json d/f
	'

	test_expect_success ${fs}_READY "$fs: ... chmod through the link" '
		race $fs-chmod "$S" "ln d/g e/h && chmod 600 e/h && rm e/h" &&
		fst-test-tool covers $fs-chmod.json d/g
	'

	test_expect_success ${fs}_READY "$fs: ... truncate and rewrite through the link" '
		race $fs-trunc "$S" "ln d/k e/h && : >e/h && echo new >e/h && rm e/h" &&
		fst-test-tool covers $fs-trunc.json d/k
	'

	test_expect_success ${fs}_READY "$fs: ... the link outside the scope, renamed before removal" '
		race $fs-out "$S" "ln d/f ../o/h && echo y >>../o/h && mv ../o/h ../o/h2 && rm ../o/h2" &&
		fst-test-tool covers $fs-out.json d/f
	'

	test_expect_success ${fs}_READY "$fs: ... ten files, each through its own short-lived link" '
		for i in 0 1 2 3 4 5 6 7 8 9
		do
			echo $i >"$S/d/m$i" || return 1
		done &&
		race $fs-many "$S" "for i in 0 1 2 3 4 5 6 7 8 9; do ln d/m\$i e/h\$i && echo z >>e/h\$i && rm e/h\$i || exit 1; done" &&
		for i in 0 1 2 3 4 5 6 7 8 9
		do
			fst-test-tool covers $fs-many.json d/m$i || return 1
		done
	'
done

fst_done
