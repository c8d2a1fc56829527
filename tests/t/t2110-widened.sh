#!/bin/sh
test_description='a query whose wait for a catch-up scan is over is answered widened

After a restart the daemon scans every scope for what changed while it
was down, and answers wait for that scan. A query that asks not to wait
(--wait-ms 0), or whose wait runs out, is answered all the same: with its
directory as "recursive" (the scan has not found it all yet), not fresh,
marked "widened", with a token after which all is exact. A query that
waits long enough gets the exact answer. --scan-pause-ms holds each scan
back so that the window is there to be seen; ground truth on every answer.'

. "$(dirname "$0")"/../lib/test-lib.sh

M=$PWD/mnt
S=$M/scope

test_expect_success ROOT,FANOTIFY,TMPFS 'a scope of 3,000 files, watched' '
	fst_mount_tmpfs "$M" &&
	mkdir -p "$S" &&
	for d in $(seq 1 3); do mkdir "$S/d$d" && (cd "$S/d$d" && seq 1 1000 | xargs touch) || return 1; done &&
	fst_daemon_start &&
	fstrack watch "$S" >/dev/null &&
	test_set_prereq READY
'

# changes while the daemon is down; "$1": the ground-truth name, "$2" a
# file number to remove
down_and_change() {
	fst_gt_begin "$1" "$S" &&
	fst_daemon_stop &&
	echo "$1" >>"$S/d2/7" && rm "$S/d3/$2" && mkdir "$S/d1/new-$1" && echo n >"$S/d1/new-$1/f" &&
	fst-test-tool manifest "$S" >"$1.m1"
}

test_expect_success READY '--wait-ms 0 while the scan runs: widened, covering, not fresh' '
	down_and_change w 9 &&
	fst_daemon_start --scan-pause-ms 4000 &&
	fstrack changes --since "$(cat w.tok)" --wait-ms 0 --json "$S" >w.json &&
	"$FST_TEST_TOOL" validate w.json &&
	grep "\"widened\"" w.json &&
	fst-test-tool answer w.json dump >w.dump &&
	grep -x "\\. .*recursive.*" w.dump &&
	fst_check_answer w.m0 w.m1 w.json w &&
	fst_not_fresh w
'

test_expect_success READY 'the status says a scan runs' '
	fstrack status --json >st.json &&
	grep "\"scan\": *{ *\"running\": *true" st.json
'

test_expect_success READY 'a wait that runs out is answered widened as well' '
	fstrack changes --since "$(cat w.tok)" --wait-ms 300 --json "$S" >w3.json &&
	grep "\"widened\"" w3.json &&
	fst_check_answer w.m0 w.m1 w3.json w3
'

test_expect_success READY 'the token of the widened answer is exact from there on' '
	fst-test-tool answer w.json token >w2.tok &&
	cp w.m1 w2.m0 &&
	echo later >"$S/d1/later" &&
	fst_gt_check w2 "$S" &&
	! grep "\"widened\"" w2.json &&
	fst_not_fresh w2
'

test_expect_success READY 'a query that waits for the scan gets the exact answer' '
	down_and_change x 10 &&
	fst_daemon_start --scan-pause-ms 1000 &&
	fstrack changes --since "$(cat x.tok)" --json "$S" >x.json &&
	! grep "\"widened\"" x.json &&
	fst_check_answer x.m0 x.m1 x.json x &&
	fst-test-tool answer x.json dump >x.dump &&
	grep -x "d2/7 modified" x.dump &&
	! grep "^\\. " x.dump
'

fst_done
