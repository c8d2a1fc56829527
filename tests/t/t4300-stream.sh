#!/bin/sh
test_description='streams: many subscribers, each with its own cursor; a stalled one gets "gap"

fstrack stream prints the history since a token, history_done, then live
changes. Several subscribers run at once and each sees every change after
its own token. A subscriber that stops reading must not block the daemon
nor grow its memory without bound: past --stream-buffer-bytes it is told
"gap" with a token to resume from (changes --since), and fstrack stream
exits 3. The resume token then answers every change the stream missed.'

. "$(dirname "$0")"/../lib/test-lib.sh

# wait_for FILE PATTERN: up to 10 s for a line matching PATTERN
wait_for() {
	n=0
	while ! grep -q "$2" "$1" 2>/dev/null && test $n -lt 100
	do
		sleep 0.1
		n=$(($n + 1))
	done
	grep -q "$2" "$1"
}

test_expect_success ROOT,TMPFS,FANOTIFY 'tmpfs, daemon with a 64 KiB stream bound, watch' '
	fst_mount_tmpfs "$PWD/mnt" &&
	mkdir mnt/w &&
	fst_daemon_start --stream-buffer-bytes 65536 &&
	fstrack watch "$PWD/mnt/w" >t0 &&
	test_set_prereq READY
'

test_expect_success READY 'three subscribers from three tokens each see what came after their own' '
	echo a >mnt/w/a && t1=$(fstrack token "$PWD/mnt/w") &&
	echo b >mnt/w/b && t2=$(fstrack token "$PWD/mnt/w") &&
	for i in 0 1 2
	do
		case $i in 0) t=$(cat t0) ;; 1) t=$t1 ;; 2) t=$t2 ;; esac
		(fstrack stream --since "$t" "$PWD/mnt/w" >s$i.out 2>s$i.err & echo $! >s$i.pid) || return 1
	done &&
	for i in 0 1 2
	do
		wait_for s$i.out history_done || return 1
	done &&
	echo c >mnt/w/c &&
	for i in 0 1 2
	do
		wait_for s$i.out "\"path\":\"c\"" || return 1
		kill $(cat s$i.pid) || return 1
	done &&
	grep -q "\"path\":\"a\"" s0.out && grep -q "\"path\":\"b\"" s0.out &&
	! grep -q "\"path\":\"a\"" s1.out && grep -q "\"path\":\"b\"" s1.out &&
	! grep -q "\"path\":\"a\"" s2.out && ! grep -q "\"path\":\"b\"" s2.out
'

test_expect_success READY 'a stalled subscriber gets "gap" and exit 3; the daemon keeps answering' '
	t=$(fstrack token "$PWD/mnt/w") &&
	fst-test-tool manifest mnt/w >m0 || return 1
	# (only the subscriber goes to the background, not the lines above)
	(fstrack stream --since "$t" "$PWD/mnt/w" >stall.out 2>stall.err; echo $? >stall.rc) &
	wait_for stall.out history_done &&
	pid=$(pgrep -f -- "stream --since $t") &&
	kill -STOP $pid &&
	mkdir mnt/w/many &&
	i=0 &&
	while test $i -lt 6000
	do
		: >mnt/w/many/file-with-a-long-name-$i || return 1
		i=$(($i + 1))
		# let group commits happen while the subscriber is stopped
		test $(($i % 1000)) = 0 && sleep 0.2
	done &&
	sleep 0.5 &&
	fstrack status >/dev/null &&
	kill -CONT $pid &&
	n=0 && while ! test -s stall.rc && test $n -lt 100; do sleep 0.1; n=$(($n + 1)); done &&
	test "$(cat stall.rc)" = 3 &&
	tail -n 1 stall.out | grep "\"event\":\"gap\"" &&
	resume=$(tail -n 1 stall.out | sed -n "s/.*\"token\":\"\\([^\"]*\\)\".*/\\1/p") &&
	test -n "$resume" &&
	fst_changes "$resume" "$PWD/mnt/w" resume.json &&
	test "$(fst-test-tool answer resume.json fresh)" = false &&
	fst-test-tool manifest mnt/w >m1 &&
	fst_changes "$t" "$PWD/mnt/w" all.json &&
	fst_check_answer m0 m1 all.json
'

test_expect_success READY 'the stream lines plus the resumed answer cover every change' '
	sed -n "s/.*\"event\":\"change\",\"path\":\"\\([^\"]*\\)\".*/\\1/p" stall.out >streamed &&
	test -s streamed &&
	i=0 &&
	while test $i -lt 6000
	do
		p=many/file-with-a-long-name-$i
		grep -qx "$p" streamed || fst-test-tool covers resume.json "$p" >/dev/null ||
			{ echo "not covered: $p"; return 1; }
		i=$(($i + 500))
	done
'

test_expect_success READY 'stop the daemon; no sanitizer reports' '
	fst_daemon_stop &&
	fst_check_sanitizer
'

fst_done
