#!/bin/sh
test_description='a storm of events wakes the daemon once per batch, not once per event

fstrackd leaves its fanotify queue alone for --read-delay-ms after each
read, so that a burst is read in a few large batches. fanotify wakes its
readers with no poll mask, and epoll keeps EPOLLERR|EPOLLHUP in every
mask, so an fd merely switched to "no EPOLLIN" still woke the daemon once
per queued event: a context switch for the daemon, and a wake-up paid by
every writer. The queue is polled one-shot now. The daemon'"'"'s context
switches are counted (/proc/PID/task/*/status) over 40,000 file creations;
the old code made about one per event. The bound is one per 4 events,
plus 400 a second of the storm (two wake-ups per 5 ms, and commits), so a
slow machine cannot fail it: it is a count, not a timing.'

. "$(dirname "$0")"/../lib/test-lib.sh

EVENTS=40000

switches() {
	cat /proc/"$FST_DAEMON_PID"/task/*/status |
		awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n }'
}

test_expect_success ROOT,FANOTIFY,TMPFS 'a watched tmpfs' '
	fst_daemon_start --read-delay-ms 5 &&
	fst_watch_new_fs tmpfs "$PWD/tmp" "$PWD/tmp/s" &&
	mkdir tmp/s/d
'

test_expect_success TMPFS_READY "$EVENTS creations: far fewer context switches than events" '
	fstrack token "$PWD/tmp/s" >t0 &&
	start=$(date +%s) &&
	before=$(switches) &&
	(cd tmp/s/d && seq -f f%g $EVENTS | xargs touch) &&
	fstrack token "$PWD/tmp/s" >/dev/null &&
	after=$(switches) &&
	secs=$(($(date +%s) - start + 1)) &&
	n=$((after - before)) &&
	bound=$((EVENTS / 4 + 400 * secs)) &&
	fst_diag "context switches over $EVENTS creations: $n in about $secs s (bound $bound)" &&
	test "$n" -lt "$bound" &&
	fstrack changes --since "$(cat t0)" -0 "$PWD/tmp/s" >answer0 &&
	tr "\\0" "\\n" <answer0 >answer &&
	grep -c "^d/f[0-9]*$" answer >count &&
	test "$(cat count)" = $EVENTS
'

fst_done
