#!/bin/sh
test_description='clients that pipeline requests and never read (issue 9, case 3)

Root watches 300 directories with long paths, so that one status answer is
about 150 KB. 20 connections send 100 status requests each and read
nothing. The daemon used to answer them all into memory (5 to 445 MiB);
now it stops reading a client whose unread answers pass 1 MiB, so its RSS
stays bounded, other clients are still answered, and when the slow readers
read at last they get every answer, in order.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

# ASan keeps freed memory in quarantine (256 MiB by default): RSS would
# measure the quarantine, not what the daemon holds.
ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8"

LONG=$(printf 'l%.0s' $(seq 1 200))

test_expect_success ROOT,FANOTIFY,TMPFS 'tmpfs, 300 scopes with long paths' '
	M=$PWD/m &&
	fst_mount_tmpfs "$M" &&
	mkdir -p "$M/$LONG" &&
	for i in $(seq 1 300)
	do
		mkdir "$M/$LONG/scope-with-a-long-name-$i" || return 1
	done &&
	fst_daemon_start &&
	for i in $(seq 1 300)
	do
		echo "{\"v\":1,\"op\":\"watch\",\"path\":\"$M/$LONG/scope-with-a-long-name-$i\"}" || return 1
	done >watch.req &&
	fst-attack raw "$FST_SOCK" <watch.req >watch.out &&
	test $(grep -c "\"ok\":true" watch.out) = 300 &&
	fstrack status --json >status.json &&
	size=$(wc -c <status.json) &&
	fst_diag "one status answer: $size bytes" &&
	test $size -gt 100000 &&
	test_set_prereq READY
'

test_expect_success READY '20 connections x 100 status requests, nothing read: RSS stays bounded' '
	rss0=$(trust_rss $FST_DAEMON_PID) &&
	trust_bg fst-attack pipeline "$FST_SOCK" 20 100 status >pipe.out 2>pipe.err &&
	pipe=$TRUST_BG_PID &&
	trust_wait_for 30 grep sent pipe.out &&
	peak=$rss0 && n=0 &&
	while test $n -lt 20
	do
		r=$(trust_rss $FST_DAEMON_PID) &&
		if test $r -gt $peak; then peak=$r; fi &&
		sleep 0.2 &&
		n=$(($n + 1)) || return 1
	done &&
	fst_diag "daemon RSS: $(($rss0 / 1024)) MiB before, $(($peak / 1024)) MiB at the most while 2,000 answers (about $(($size * 2000 / 1048576)) MiB) wait" &&
	test $(($peak - $rss0)) -lt $((64 * 1024))
'

test_expect_success READY '... meanwhile another client is answered at once' '
	t0=$(date +%s%N) &&
	fstrack status >/dev/null &&
	fstrack token "$M/$LONG/scope-with-a-long-name-7" >/dev/null &&
	t1=$(date +%s%N) &&
	fst_diag "another client answered in $((($t1 - $t0) / 1000000)) ms" &&
	test $((($t1 - $t0) / 1000000)) -lt 5000
'

test_expect_success READY '... and the slow readers, reading at last, get every answer in order' '
	kill -USR1 $pipe &&
	wait $pipe &&
	cat pipe.out &&
	grep "answers 2000 of 2000" pipe.out &&
	grep "all in order" pipe.out
'

test_expect_success READY 'the daemon is still exact' '
	S=$M/$LONG/scope-with-a-long-name-1 &&
	fst_gt_begin end "$S" &&
	echo x >"$S/new" && mkdir "$S/d" &&
	fst_gt_check end "$S" &&
	fst_not_fresh end
'

fst_done
