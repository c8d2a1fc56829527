#!/bin/sh
test_description='one daemon per state directory (issue 9, case 7)

A second fstrackd on the same --state-dir, with another socket, must exit 1
at once and name the pid of the first; the journal is left alone, so the
first daemon'"'"'s old tokens stay exact. Before the lock both wrote the same
journal, which was then reported damaged and old tokens went fresh. The
lock goes with the process: after kill -9 the next daemon starts.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

# second NAME [ARGS...]: another fstrackd on the same state directory; its
# exit status in NAME.rc, its output in NAME.out
second() {
	n=$1
	shift
	timeout 20 "$FSTRACKD" --state-dir "$FST_STATE" "$@" </dev/null >$n.out 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&-
	echo $? >$n.rc
}

names_pid() {
	grep "fstrackd: another fstrackd (pid $2) uses the state directory $FST_STATE; stop it first, or give this one another --state-dir" $1.out || {
		echo "$1: not the message naming pid $2:"
		cat $1.out
		return 1
	}
}

test_expect_success ROOT,FANOTIFY,TMPFS 'a daemon, a scope, a token' '
	M=$PWD/m && S=$M/scope &&
	fst_mount_tmpfs "$M" &&
	mkdir "$S" && fst-test-tool workload --seed 3060 --ops 100 "$S" &&
	fst_daemon_start &&
	fstrack watch "$S" >/dev/null &&
	fst_gt_begin old "$S" &&
	fst-test-tool workload --seed 3060 --start 101 --ops 50 "$S" &&
	test_set_prereq READY
'

test_expect_success READY 'a second daemon with another socket exits 1 naming the first' '
	second two --foreground --socket "$PWD/two.sock" &&
	test "$(cat two.rc)" = 1 &&
	names_pid two $FST_DAEMON_PID &&
	! test -e two.sock
'

test_expect_success READY '... also when it would detach' '
	second three --socket "$PWD/three.sock" &&
	if "$FSTRACK" --socket "$PWD/three.sock" status --json >three.json 2>/dev/null
	then
		kill -KILL "$(fst-test-tool json three.json daemon pid)" # it detached: not ours to leave
	fi &&
	test "$(cat three.rc)" = 1 &&
	names_pid three $FST_DAEMON_PID &&
	! test -e three.sock
'

test_expect_success READY '... and on the same socket' '
	second four --foreground --socket "$FST_SOCK" &&
	test "$(cat four.rc)" = 1 &&
	names_pid four $FST_DAEMON_PID &&
	fstrack status >/dev/null
'

test_expect_success READY 'the first daemon goes on; its old token is exact, the journal undamaged' '
	fst-test-tool workload --seed 3060 --start 151 --ops 50 "$S" &&
	fst_gt_check old "$S" &&
	fst_not_fresh old &&
	fstrack status --json >st.json &&
	test "$(fst-test-tool json st.json filesystems 0 bad_ranges)" = 0
'

test_expect_success READY 'after kill -9 of the first, the next daemon starts and catches up' '
	fst_daemon_kill &&
	fst-test-tool workload --seed 3060 --start 201 --ops 50 "$S" &&
	fst_daemon_start &&
	fst_gt_check old "$S" &&
	fst_not_fresh old &&
	"$FST_JOURNAL_TOOL" verify "$FST_STATE/journals/"* >verify.out 2>&1 ||
	{ cat verify.out; false; }
'

test_expect_success READY 'a detached daemon holds the lock too, under its own pid' '
	fst_daemon_stop &&
	"$FSTRACKD" --state-dir "$FST_STATE" --socket "$PWD/det.sock" </dev/null >det.out 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- &&
	trust_wait_for 30 "$FSTRACK" --socket "$PWD/det.sock" status --json >det.json &&
	det=$(fst-test-tool json det.json daemon pid) &&
	TRUST_PIDS="$TRUST_PIDS $det" &&
	second five --foreground --socket "$PWD/five.sock" &&
	test "$(cat five.rc)" = 1 &&
	names_pid five $det &&
	kill -TERM $det &&
	trust_wait_for 30 eval "! kill -0 $det 2>/dev/null"
'

test_expect_success READY 'when the first has stopped, the second starts' '
	fst_daemon_start &&
	fst_gt_check old "$S" &&
	fst_not_fresh old
'

fst_done
