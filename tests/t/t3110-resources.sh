#!/bin/sh
test_description='memory and fds under a combined attack (issue 9)

Three users at once: one pipelines 15 "changes" requests with big answers
on each of 20 connections and reads nothing, one floods 10,000
connections and holds them, one subscribes 50 streams to its busy scope
and never reads them. The daemon'"'"'s RSS and open fds are sampled all along:
fds must stay within the per-user limits, RSS within the sum of the
per-client bounds (1 MiB of unread answers, 4 MiB per stream). Peak
figures are reported. Then the slow reader reads every answer in order
and root'"'"'s own scope is still exact.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8"
SLOW=fst3110s
FLOOD=fst3110f
STREAM=fst3110t

# sample SECONDS: peak RSS (KiB) and fds of the daemon over SECONDS, every 0.2 s
sample() {
	n=$(($1 * 5))
	while test $n -gt 0
	do
		r=$(trust_rss $FST_DAEMON_PID) && f=$(trust_fds $FST_DAEMON_PID) || return 1
		test $r -le $peak_rss || peak_rss=$r
		test $f -le $peak_fds || peak_fds=$f
		sleep 0.2
		n=$(($n - 1))
	done
}

test_expect_success ROOT,FANOTIFY,TMPFS,USERADD 'three users, their scopes, root scope, the daemon' '
	M=$PWD/m && S=$M/scope &&
	fst_mount_tmpfs "$M" &&
	mkdir "$S" && fst-test-tool workload --seed 3110 --ops 100 "$S" &&
	for u in $SLOW $FLOOD $STREAM
	do
		trust_user $u && mkdir "$M/$u" && chown $u:$u "$M/$u" || return 1
	done &&
	as_user $SLOW mkdir "$M/$SLOW/big" &&
	fst_daemon_start &&
	fstrack watch "$S" >/dev/null &&
	fst_gt_begin root "$S" &&
	as_user $SLOW "$FSTRACK" watch "$M/$SLOW/big" >/dev/null &&
	slow_tok=$(as_user $SLOW "$FSTRACK" token "$M/$SLOW/big") &&
	as_user $SLOW sh -c "cd \"$M/$SLOW/big\" && for d in \$(seq 1 5); do mkdir d\$d && cd d\$d && seq 1 500 | xargs touch && cd ..; done" &&
	as_user $SLOW "$FSTRACK" changes --since "$slow_tok" --json "$M/$SLOW/big" >big.json &&
	big=$(wc -c <big.json) &&
	fst_diag "one changes answer of the slow reader: $big bytes, $(fst-test-tool answer big.json count) changes" &&
	as_user $STREAM mkdir "$M/$STREAM/busy" &&
	as_user $STREAM "$FSTRACK" watch "$M/$STREAM/busy" >/dev/null &&
	stream_tok=$(as_user $STREAM "$FSTRACK" token "$M/$STREAM/busy") &&
	rss0=$(trust_rss $FST_DAEMON_PID) && fds0=$(trust_fds $FST_DAEMON_PID) &&
	peak_rss=$rss0 && peak_fds=$fds0 &&
	test_set_prereq READY
'

test_expect_success READY 'the attack: slow readers, a flood, streams that never read, a busy scope' '
	trust_bg_as $SLOW fst-attack pipeline "$FST_SOCK" 20 15 \
		"{\"v\":1,\"op\":\"changes\",\"path\":\"$M/$SLOW/big\",\"since\":\"$slow_tok\"}" >slow.out 2>slow.err &&
	slow=$TRUST_BG_PID &&
	trust_bg_as $STREAM fst-attack streams "$FST_SOCK" 50 "$M/$STREAM/busy" "$stream_tok" >streams.out 2>streams.err &&
	streams=$TRUST_BG_PID &&
	trust_wait_for 60 grep -q sent slow.out &&
	trust_wait_for 60 grep -q streams streams.out &&
	trust_bg_as $FLOOD fst-attack connect "$FST_SOCK" 10000 --hold >flood.out 2>flood.err &&
	flood=$TRUST_BG_PID &&
	trust_wait_for 120 grep -q attempts flood.out &&
	# a busy scope, paced to stay under the kernel queue (an overflow makes
	# every query of the filesystem wait for a scan: not this test)
	trust_bg_as $STREAM sh -c "cd \"$M/$STREAM/busy\" && i=0 && while :; do i=\$((\$i + 1)) && mkdir b\$i && (cd b\$i && seq 1 2000 | xargs touch) && sleep 0.5 || exit 1; done" &&
	storm=$TRUST_BG_PID &&
	sample 10 &&
	trust_stop $storm &&
	sample 2 &&
	fstrack status --json >attack.json &&
	fst_diag "kernel queue overflows during the attack: $(fst-test-tool json attack.json filesystems 0 overflows)" &&
	fst_diag "daemon RSS $(($rss0 / 1024)) MiB before, $(($peak_rss / 1024)) MiB at the most; fds $fds0 before, $peak_fds at the most" &&
	fst_diag "flood: $(cat flood.out | head -n 1)"
'

test_expect_success READY 'fds stayed within the per-user limits' '
	test $peak_fds -lt $(($fds0 + 3 * 256 + 16))
'

test_expect_success READY 'RSS stayed within the per-client bounds' '
	# 20 slow connections: 1 MiB each plus the answer that crossed it;
	# 50 streams: 4 MiB each; 64 MiB for the rest
	bound=$(( (20 * (1024 + $big / 1024) + 50 * 4096 + 64 * 1024) )) &&
	fst_diag "RSS grew by $((($peak_rss - $rss0) / 1024)) MiB; the bound is $(($bound / 1024)) MiB" &&
	test $(($peak_rss - $rss0)) -lt $bound
'

test_expect_success READY 'the streams and the flood go; the slow reader reads at last: every answer, in order' '
	trust_stop $flood &&
	trust_stop $streams &&
	kill -USR1 $slow &&
	wait $slow &&
	cat slow.out &&
	grep "answers 300 of 300" slow.out
'

test_expect_success READY 'root is exact' '
	echo after >"$S/after-attack" &&
	fst_gt_check root "$S" &&
	fst_not_fresh root
'

fst_done
