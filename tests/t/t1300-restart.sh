#!/bin/sh
test_description='restart: tokens and scopes survive SIGTERM and a new start

A token issued before the daemon is stopped with SIGTERM and started again
must still give an answer that covers every change (before the stop, while
it was down, after the start), or a fresh one; DESIGN.md says downtime is
repaired by the catch-up scan and must not degrade to fresh, which is
checked on its own. The watched directories come back by themselves.'

. "$(dirname "$0")"/../lib/test-lib.sh

# The ground truth since token $tok, manifest m0: manifest m1, answer, check.
covers_since() {
	fst-test-tool manifest "$S" >"$1.m1" &&
	fst_changes "$tok" "$S" "$1.json" &&
	fst_check_answer "$1.m0" "$1.m1" "$1.json" "$fs, $1"
}

# begin NAME: a token and the manifest it goes with
begin() {
	tok=$(fstrack token "$S") &&
	echo "$tok" >"$1.tok" &&
	fst-test-tool manifest "$S" >"$1.m0"
}

not_fresh() {
	test "$(fst-test-tool answer "$1.json" fresh)" = false || {
		echo "$1: the answer is fresh: DESIGN.md says a restart must not degrade to fresh"
		return 1
	}
}

restart() {
	fst_daemon_stop && fst_daemon_start "$@"
}

test_expect_success ROOT,FANOTIFY 'start the daemon' '
	fst_daemon_start
'

seed=1300
for fs in tmpfs ext4 xfs
do
	seed=$(($seed + 10))
	FS=$(echo $fs | tr a-z A-Z)
	M=$PWD/$fs
	S=$M/scope
	if test $fs = tmpfs
	then
		fs_prereq=ROOT,FANOTIFY,TMPFS
	else
		fs_prereq=ROOT,FANOTIFY,LOOP,$FS
	fi
	P=$fs_prereq,${FS}_READY

	test_expect_success $fs_prereq "$fs: mount, a tree, watch" '
		if test $fs = tmpfs
		then
			fst_mount_tmpfs "$M"
		else
			fst_mount_image $fs "$M"
		fi &&
		mkdir -p "$S" &&
		fst-test-tool workload --seed $seed --ops 150 "$S" &&
		fstrack watch "$S" >/dev/null &&
		test_set_prereq ${FS}_READY
	'

	test_expect_success $P "$fs: changes before a restart and after it are covered" '
		begin $fs-a &&
		fst-test-tool workload --seed $seed --start 151 --ops 60 "$S" &&
		restart &&
		fst-test-tool workload --seed $seed --start 211 --ops 60 "$S" &&
		covers_since $fs-a
	'

	test_expect_success $P "$fs: ... and the answer is not fresh" '
		not_fresh $fs-a
	'

	test_expect_success $P "$fs: the watched directory comes back by itself" '
		fstrack status --json >status.json &&
		fst-test-tool json status.json scopes "*" path >scopes &&
		grep -x "$S" scopes &&
		fstrack token "$S" >/dev/null
	'

	test_expect_success $P "$fs: changes while the daemon is down are covered" '
		begin $fs-b &&
		fst_daemon_stop &&
		fst-test-tool workload --seed $seed --start 271 --ops 80 "$S" &&
		fst_daemon_start &&
		covers_since $fs-b
	'

	test_expect_success $P "$fs: ... and the answer is not fresh" '
		not_fresh $fs-b
	'

	test_expect_success $P "$fs: a token returned by changes survives two restarts" '
		tok=$(fst-test-tool answer $fs-b.json token) &&
		cp $fs-b.m1 $fs-c.m0 &&
		fst-test-tool workload --seed $seed --start 351 --ops 30 "$S" &&
		restart &&
		fst-test-tool workload --seed $seed --start 381 --ops 30 "$S" &&
		restart &&
		fst-test-tool workload --seed $seed --start 411 --ops 30 "$S" &&
		covers_since $fs-c &&
		not_fresh $fs-c
	'

	test_expect_success $P "$fs: the first token still covers everything, after four restarts" '
		cp $fs-a.m0 $fs-d.m0 &&
		tok=$(cat $fs-a.tok) &&
		covers_since $fs-d &&
		not_fresh $fs-d
	'
done

fst_done
