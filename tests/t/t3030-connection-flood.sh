#!/bin/sh
test_description='a connection flood (issue 9, case 4)

Three users open 10,000 connections each and hold what they get. Each gets
its 256 (--max-clients-per-user), the rest are told why in one JSON line and
closed; the log stays short, the daemon idles while the flood holds its
connections, root is answered, and a change made while the mount table
changes is in the next answer with the scope still active. Then the daemon
is pushed to the end of its fds for real (its RLIMIT_NOFILE lowered under
it with prlimit): connections are turned away with a reason, accept does
not spin, and a failed read of the mount table is not taken for an
unmount. Last, lowered limits (--max-clients-per-user 5, --max-clients 12)
refuse with the documented lines, and the places kept for root (a quarter
of 12) keep root answered when users hold all theirs.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

USERS="fst3030a fst3030b fst3030c"

scope_active() {
	fstrack status --json >sa.json &&
	test "$(fst-test-tool json sa.json scopes 0 state)" = active
}

# cpu_over SECONDS: the daemon's CPU ticks (1/100 s) over SECONDS, in $ticks
cpu_over() {
	c0=$(trust_cpu $FST_DAEMON_PID) &&
	sleep $1 &&
	c1=$(trust_cpu $FST_DAEMON_PID) &&
	ticks=$(($c1 - $c0))
}

# mount_churn: the mount table changes twice (an unrelated tmpfs)
mount_churn() {
	mkdir -p other &&
	mount -t tmpfs fst-unrelated other &&
	sleep 0.3 &&
	umount other
}

test_expect_success ROOT,FANOTIFY,TMPFS,USERADD 'tmpfs, a scope, three users, the daemon' '
	M=$PWD/m && S=$M/scope &&
	fst_mount_tmpfs "$M" &&
	mkdir "$S" && fst-test-tool workload --seed 3030 --ops 50 "$S" &&
	for u in $USERS
	do
		trust_user $u || return 1
	done &&
	fst_daemon_start &&
	fstrack watch "$S" >/dev/null &&
	test_set_prereq READY
'

test_expect_success READY 'three users flood 10,000 connections each: 256 each, the rest told why' '
	l0=$(trust_log_lines) &&
	floods= &&
	for u in $USERS
	do
		trust_bg_as $u fst-attack connect "$FST_SOCK" 10000 --hold >$u.out 2>$u.err &&
		floods="$floods $TRUST_BG_PID" || return 1
	done &&
	for u in $USERS
	do
		trust_wait_for 300 grep -q attempts $u.out || return 1
	done &&
	for u in $USERS
	do
		cat $u.out &&
		grep "^attempts 10000 accepted 256 refused" $u.out &&
		grep -x "refusal: {\"v\":1,\"ok\":false,\"errno\":11,\"error\":\"too many connections of this user to fstrackd; close some first\"}" $u.out ||
		return 1
	done &&
	l1=$(trust_log_lines) &&
	fds=$(trust_fds $FST_DAEMON_PID) &&
	fst_diag "30,000 connections tried: $(($l1 - $l0)) log lines, $fds fds open in the daemon" &&
	test $(($l1 - $l0)) -lt 100 &&
	test $fds -lt $((3 * 256 + 64))
'

test_expect_success READY '... the daemon idles while the flood holds its connections' '
	cpu_over 3 &&
	fst_diag "daemon CPU over 3 s while 768 connections are held: $ticks ticks" &&
	test $ticks -lt 30
'

test_expect_success READY '... root is answered, and counts them' '
	fstrack status --json >flood.json &&
	test $(fst-test-tool json flood.json daemon clients) -ge 768 &&
	test $(fst-test-tool json flood.json daemon clients_refused) -ge 29000
'

test_expect_success READY '... a change made while the mount table changes is in the next answer' '
	fst_gt_begin churn "$S" &&
	mount_churn &&
	echo during >"$S/during-flood" &&
	mount_churn &&
	fst_gt_check churn "$S" &&
	fst_not_fresh churn &&
	fst-test-tool has churn.json during-flood created &&
	scope_active
'

test_expect_success READY 'the flood goes; its connections are closed' '
	for p in $floods
	do
		trust_stop $p || return 1
	done &&
	trust_wait_for 10 eval "fstrack status --json >after.json && test \$(fst-test-tool json after.json daemon clients) -lt 5"
'

test_expect_success READY 'out of fds for real: turned away with a reason, no spin' '
	fst_gt_begin starved "$S" &&
	l0=$(trust_log_lines) &&
	t0=$(date +%s) &&
	hard=$(awk "/Max open files/ { print \$5 }" /proc/$FST_DAEMON_PID/limits) &&
	n=$(trust_starve_limit $FST_DAEMON_PID 0) &&
	prlimit --pid $FST_DAEMON_PID --nofile=$n:$hard &&
	fst-attack connect "$FST_SOCK" 3000 >starved.out &&
	cat starved.out &&
	grep "refusal: .*the daemon is out of file descriptors; try again later" starved.out &&
	grep "accepted 0 " starved.out &&
	cpu_over 3 &&
	fst_diag "daemon CPU over 3 s after a flood at its fd limit: $ticks ticks" &&
	test $ticks -lt 30
'

test_expect_success READY '... a change while the mount table changes and no fd is left' '
	mount_churn &&
	echo starved >"$S/while-starved" &&
	mount_churn &&
	sleep 1 &&
	prlimit --pid $FST_DAEMON_PID --nofile=$hard:$hard &&
	l1=$(trust_log_lines) &&
	secs=$(($(date +%s) - $t0)) &&
	fst_diag "at the fd limit: $(($l1 - $l0)) log lines in $secs s" &&
	# each kind of line: at most 10 in 10 s (log.h); a spin logs thousands
	test $(($l1 - $l0)) -lt $((50 * (1 + $secs / 10))) &&
	fst_gt_check starved "$S" &&
	fst_not_fresh starved &&
	fst-test-tool covers starved.json while-starved &&
	scope_active
'

test_expect_success READY 'lowered limits: 5 per user, 12 in all' '
	fst_daemon_stop &&
	fst_daemon_start --max-clients-per-user 5 --max-clients 12 &&
	set -- $USERS &&
	trust_bg_as $1 fst-attack connect "$FST_SOCK" 8 --hold >low1.out &&
	low1=$TRUST_BG_PID &&
	trust_wait_for 30 grep -q attempts low1.out &&
	trust_bg_as $2 fst-attack connect "$FST_SOCK" 8 --hold >low2.out &&
	low2=$TRUST_BG_PID &&
	trust_wait_for 30 grep -q attempts low2.out &&
	trust_bg_as $3 fst-attack connect "$FST_SOCK" 8 --hold >low3.out &&
	low3=$TRUST_BG_PID &&
	trust_wait_for 30 grep -q attempts low3.out &&
	cat low1.out low2.out low3.out &&
	grep "^attempts 8 accepted 5 refused 3 " low1.out &&
	grep -x "refusal: {\"v\":1,\"ok\":false,\"errno\":11,\"error\":\"too many connections of this user to fstrackd; close some first\"}" low1.out &&
	# the last quarter of the places (3 of 12) are root'"'"'s: users share 9
	grep "^attempts 8 accepted 4 refused 4 " low2.out &&
	grep "^attempts 8 accepted 0 refused 8 " low3.out &&
	grep -x "refusal: {\"v\":1,\"ok\":false,\"errno\":11,\"error\":\"too many connections to fstrackd; try again later\"}" low3.out &&
	# ... so a crowd of users cannot lock root out
	fstrack status >/dev/null &&
	trust_stop $low3 &&
	trust_wait_for 10 fstrack status >/dev/null &&
	trust_stop $low1 && trust_stop $low2
'

fst_done
