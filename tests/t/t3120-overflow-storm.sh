#!/bin/sh
test_description='a user who overflows the event queue on purpose (known breakage)

The daemon marks whole filesystems: every change on one counts, also in a
directory nobody watches. A user running a few create/unlink storms in its
own directory overflows the kernel queue again and again; each overflow
starts a catch-up scan of every scope of the filesystem, and while one
runs or is pending every query on that filesystem waits (up to its
wait_ms), then fails with EAGAIN. So the user denies every other user
(root included) answers for as long as it likes. Nothing is lost (checked
after the storm), but nothing is answered either: an answer widened to
what the scan has not covered yet would keep the promise and still answer.
In a minute or two the storm also writes millions of records: the journal
(--max-journal-bytes, 256 MiB; 32 MiB here) drops its oldest segments, and every older token on
the filesystem answers fresh (a full rescan for every consumer).
FST_STORMS (default 2) storms are run.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

U=fst3120u
STORMS=${FST_STORMS:-2}

test_expect_success ROOT,FANOTIFY,TMPFS,USERADD 'root watches 20,000 files; a user has its own directory' '
	M=$PWD/m && S=$M/scope &&
	fst_mount_tmpfs "$M" &&
	mkdir "$S" &&
	(cd "$S" && for d in $(seq 1 20); do mkdir d$d && (cd d$d && seq 1 1000 | xargs touch) || exit 1; done) &&
	trust_user $U && mkdir "$M/u" && chown $U "$M/u" &&
	fst_daemon_start --max-journal-bytes 33554432 --segment-bytes 4194304 &&
	fstrack watch "$S" >/dev/null &&
	fst_gt_begin storm "$S" &&
	storms= &&
	for k in $(seq 1 $STORMS)
	do
		mkdir "$M/u/$k" && chown $U "$M/u/$k" &&
		trust_bg_as $U fst-test-tool storm "$M/u/$k" 100000000 &&
		storms="$storms $TRUST_BG_PID" || return 1
	done &&
	test_set_prereq READY
'

test_expect_failure READY 'during the storm, root is answered within its wait (3 s)' '
	sleep 5 &&
	ok=0 && i=0 &&
	while test $i -lt 1
	do
		i=$(($i + 1)) &&
		echo $i >>"$S/d1/1" &&
		t0=$(date +%s) &&
		# (the client gives up after 20 s: the daemon, busy reading events,
		# may be much later than its own deadline)
		if timeout 20 "$FSTRACK" changes --since "$(cat storm.tok)" --wait-ms 3000 --json "$S" >q$i.json 2>q$i.err
		then
			ok=$(($ok + 1))
		fi &&
		fst_diag "query $i: $(($(date +%s) - $t0)) s, $(cat q$i.err)"
	done &&
	fstrack status --json >st.json &&
	fst_diag "$ok of 1 answered; overflows so far: $(fst-test-tool json st.json filesystems 0 overflows)" &&
	test $ok = 1
'

test_expect_success READY 'after the storm, nothing is lost' '
	for p in $storms
	do
		trust_stop $p || return 1
	done &&
	fstrack status --json >after.json &&
	fst_diag "after the storm: journal $(fst-test-tool json after.json filesystems 0 journal_bytes) bytes in $(fst-test-tool json after.json filesystems 0 journal_segments) segments, records $(fst-test-tool json after.json filesystems 0 first_seq)..$(fst-test-tool json after.json filesystems 0 next_seq), bad ranges $(fst-test-tool json after.json filesystems 0 bad_ranges), token $(cat storm.tok)" &&
	fst_gt_check storm "$S" &&
	fst_diag "the old token answered fresh=$(fst-test-tool answer storm.json fresh)"
'

test_expect_failure READY '... and the storm did not push root'"'"'s token out of the journal (not fresh)' '
	fst_not_fresh storm
'

fst_done
