#!/bin/sh
test_description='a full state filesystem (issue 9, case 8)

The state directory is a small loop-mounted ext4, filled up while the
daemon records changes. It must back off (few failed commits, few log
lines), answer token and changes at once with an error that says the state
directory is full (not after a 60 s wait), show the failure in status, and
once there is room again, answer every change made meanwhile: from a token
of before the failure (fresh is allowed for it, a miss is not) and exactly
from a token of after.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

status_field() {
	fstrack status --json >sf.json &&
	fst-test-tool json sf.json filesystems 0 "$1"
}

test_expect_success ROOT,FANOTIFY,TMPFS,LOOP,EXT4 'state on a 32 MiB ext4, a scope on tmpfs' '
	fst_mount_image ext4 "$FST_STATE" 32M &&
	M=$PWD/m && S=$M/scope &&
	fst_mount_tmpfs "$M" &&
	mkdir "$S" && fst-test-tool workload --seed 3070 --ops 100 "$S" &&
	fst_daemon_start &&
	fstrack watch "$S" >/dev/null &&
	fst_gt_begin before "$S" &&
	fst-test-tool workload --seed 3070 --start 101 --ops 50 "$S" &&
	test_set_prereq READY
'

scans_done() {
	awk '/catch-up scan of .* done/ { n++ } END { print n + 0 }' "$FST_DAEMON_LOG"
}

# changing SECONDS START: workload batches in the scope for SECONDS, a client
# asking for a token after each (tokens commit what was recorded)
changing() {
	end=$(($(date +%s) + $1)) && i=$2 &&
	while test $(date +%s) -lt $end
	do
		fst-test-tool workload --seed 3070 --start $i --ops 20 "$S" || return 1
		fstrack token "$S" >/dev/null 2>&1
		i=$(($i + 20))
		sleep 0.2
	done
}

test_expect_success READY 'full for 30 s while the scope changes and a client asks: few failed commits, scans, log lines' '
	test_might_fail dd if=/dev/zero of="$FST_STATE/fill" bs=64k 2>dd.err &&
	grep "No space left" dd.err &&
	e0=$(status_field commit_errors) &&
	l0=$(trust_log_lines) &&
	s0=$(scans_done) &&
	changing 30 1000 &&
	e1=$(status_field commit_errors) &&
	l1=$(trust_log_lines) &&
	s1=$(scans_done) &&
	dropped=$(status_field records_dropped_while_failing) &&
	fst_diag "full for 30 s: $(($e1 - $e0)) failed commits, $(($s1 - $s0)) scans, $(($l1 - $l0)) log lines, $dropped records dropped, $(($i - 1000)) operations" &&
	# every token request tries a commit: under 100 in 10 s (before: 30,000 a minute)
	test $(($e1 - $e0)) -lt 300 &&
	test $(($s1 - $s0)) -lt 30 &&
	test $(($l1 - $l0)) -lt 150
'

test_expect_success READY 'once the last journal block is used up, changes says at once that it is full' '
	# The last block of the journal had room for small commits: the
	# retries took them. Changes and tokens use up what is left (each
	# token commits what was recorded).
	n=0 &&
	while test $n -lt 1000 && fst-test-tool workload --seed 3070 --start $((5000 + $n)) --ops 1 "$S" &&
		fstrack token "$S" >/dev/null 2>&1
	do
		n=$(($n + 1))
	done &&
	fst_diag "the last block took $n more commits of one change" &&
	t0=$(now_ms) &&
	test_must_fail fstrack changes --since "$(cat before.tok)" "$S" >full.out 2>full.err &&
	t1=$(now_ms) &&
	fst_diag "changes answered in $(($t1 - $t0)) ms: $(cat full.err)" &&
	test $(($t1 - $t0)) -lt 2000 &&
	grep "state directory $FST_STATE is full" full.err
'

test_expect_success READY '... status says so' '
	status_field commit_failing >failing &&
	grep "No space left on device" failing
'

test_expect_success READY '... a token handed out while full (nothing to commit) is kept' '
	fst-test-tool manifest "$S" >mid.m0 &&
	if fstrack token "$S" >mid.tok 2>mid.err
	then
		fst_diag "a token while full: $(cat mid.tok)"
	else
		fst_diag "no token while full: $(cat mid.err)" &&
		grep "is full" mid.err
	fi &&
	changing 3 6000
'

test_expect_success READY 'room again: commits work again by themselves' '
	rm "$FST_STATE/fill" &&
	t0=$(date +%s) &&
	trust_wait_for 45 eval "! status_field commit_failing >/dev/null" &&
	fst_diag "commits worked again after $(($(date +%s) - $t0)) s"
'

test_expect_success READY 'the token of before the failure covers every change (fresh allowed)' '
	fst_gt_check before "$S" &&
	fst_diag "the old token answered fresh=$(fst-test-tool answer before.json fresh)"
'

test_expect_success READY 'the token handed out while full covers every change after it' '
	if test -s mid.tok
	then
		fst_gt_check mid "$S"
	fi
'

test_expect_success READY 'a token of after: exact, and not fresh' '
	fst_gt_begin after "$S" &&
	fst-test-tool workload --seed 3070 --start 7000 --ops 100 "$S" &&
	fst_gt_check after "$S" &&
	fst_not_fresh after
'

test_expect_success READY 'full again, and a restart while full: still covered after' '
	fst_gt_begin again "$S" &&
	test_might_fail dd if=/dev/zero of="$FST_STATE/fill" bs=64k 2>/dev/null &&
	fst-test-tool workload --seed 3071 --ops 200 "$S" &&
	fst_daemon_stop &&
	fst-test-tool workload --seed 3071 --start 201 --ops 50 "$S" &&
	fst_daemon_start &&
	fst-test-tool workload --seed 3071 --start 251 --ops 50 "$S" &&
	rm "$FST_STATE/fill" &&
	trust_wait_for 45 eval "! status_field commit_failing >/dev/null" &&
	fst_gt_check again "$S"
'

fst_done
