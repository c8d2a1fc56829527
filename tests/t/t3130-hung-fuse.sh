#!/bin/sh
test_description='a FUSE mount that stops answering (a limit, README "Limits")

The daemon opens a request'"'"'s path on its loop thread, as the caller. A
user whose FUSE filesystem is mounted with allow_other (which needs
user_allow_other in /etc/fuse.conf, off by default) and whose FUSE server
stops answering can make that open wait, and every other client waits with
it. This script shows the limit as it is: while the open waits, nobody is
answered; once the FUSE connection ends (its server dies, or an
administrator aborts it in /sys/fs/fuse/connections), the waiting request
fails, the others are answered, and no change made meanwhile is missed.
If this script fails because status kept answering, the limit is gone:
update README "Limits" and this script.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

U=fst3130u

fst_lazy_prereq FUSE '
	test -c /dev/fuse || { echo "no /dev/fuse (modprobe fuse)"; exit 1; }
	mkdir fuse-probe &&
	fst-test-tool fuse-hang "$PWD/fuse-probe" 0 0 >fuse-probe.out &
	p=$!
	n=0
	while ! grep -q mounted fuse-probe.out 2>/dev/null && kill -0 $p 2>/dev/null &&
		test $n -lt 50; do
		sleep 0.1
		n=$(($n + 1))
	done
	grep -q mounted fuse-probe.out; r=$?
	kill $p 2>/dev/null
	wait $p 2>/dev/null
	umount "$PWD/fuse-probe" 2>/dev/null || umount -l "$PWD/fuse-probe" 2>/dev/null
	exit $r
'

# answers: status answers within 2 s
answers() {
	timeout 2 "$FSTRACK" status >/dev/null
}

test_expect_success ROOT,FANOTIFY,TMPFS,USERADD,FUSE 'a scope, and a user with a FUSE mount that never answers' '
	M=$PWD/m &&
	fst_mount_tmpfs "$M" &&
	trust_user $U &&
	mkdir "$M/scope" "$M/fuse" &&
	echo a >"$M/scope/a" &&
	fst_daemon_start &&
	fstrack watch "$M/scope" >/dev/null &&
	fst_gt_begin gt "$M/scope" &&
	trust_bg fst-test-tool fuse-hang "$M/fuse" "$(id -u $U)" "$(id -g $U)" >fuse.out &&
	FUSE_PID=$TRUST_BG_PID &&
	fst__register mount "$M/fuse" &&
	trust_wait_for 10 grep -q mounted fuse.out &&
	answers &&
	test_set_prereq READY
'

test_expect_success READY 'a request whose path goes through it waits, and so does everyone else' '
	trust_bg_as $U "$FSTRACK" token "$M/fuse" &&
	WAITER=$TRUST_BG_PID &&
	trust_wait_for 10 sh -c "! timeout 1 \"$FSTRACK\" status >/dev/null" &&
	! answers &&
	echo changed >>"$M/scope/a" &&
	echo new >"$M/scope/b" &&
	kill -0 $WAITER
'

test_expect_success READY 'once the FUSE connection ends, the waiting request fails and the rest is answered' '
	trust_stop $FUSE_PID &&
	trust_wait_for 10 answers &&
	! wait $WAITER &&
	fst__alive $FST_DAEMON_PID &&
	fst_gt_check gt "$M/scope" &&
	fst_not_fresh gt
'

fst_done
