#!/bin/sh
test_description='fstrack git-daemon: daemon restarts, kill -9, overflows, git while fstrackd is down

fstrackd answers git'\''s fsmonitor socket for an enabled work tree. After a
clean stop and start, after kill -9 (the socket left behind) and after an
overflow of the kernel'\''s queue, the socket answers again and the token in
git'\''s index still holds: the answers are precise, not "/", and "git
status --porcelain=v2" equals git status without fsmonitor; git never
starts a daemon of its own. When git runs while fstrackd is down, git
starts its own daemon (nobody answers); fstrackd, back, asks it to stop
and takes the socket again (the first answer is then "/": the index holds
a token of git'\''s daemon).'

. "$(dirname "$0")"/../lib/test-lib.sh

. "$FST_SRC_DIR"/tests/lib/git-lib.sh
. "$FST_SRC_DIR"/tests/lib/git-ipc-lib.sh

P=ROOT,TMPFS,FANOTIFY,GIT255

T=$SHARNESS_TRASH_DIRECTORY
SOCK=$T/mnt/repo/.git/fsmonitor--daemon.ipc
# A bounded kernel queue for the daemon's groups only (no global setting
# stays changed), so that a stopped daemon overflows it. A catch-up scan
# looks back MARGIN ms past the watermark: a directory of the top that
# changed then is "entries" of the top, which only "/" can say to git. The
# setup leaves the top alone for longer than that before the first restart.
QUEUE=256
MARGIN=500

start() {
	fst_daemon_start --queue-events $QUEUE --margin-ms $MARGIN &&
	ipc_wait_listening repo
}

# git status through the socket: precise (not "/"), right, no daemon of git's own.
precise_status() {
	rm -f "$T/trace.json" &&
	(cd repo && GIT_TRACE2_EVENT="$T/trace.json" git status --porcelain=v2 >/dev/null) &&
	ipc_used "$T/trace.json" "$1" &&
	if ipc_trivial "$T/trace.json"
	then
		echo "$1: the answer was \"/\""
		return 1
	fi &&
	ipc_status "$1"
}

test_expect_success $P 'setup: a repository on a tmpfs, enabled, first status' '
	fst_mount_tmpfs "$PWD/mnt" &&
	fst_daemon_start --queue-events $QUEUE --margin-ms $MARGIN &&
	git init -q mnt/repo &&
	ln -s mnt/repo repo &&
	mkdir -p repo/w repo/storm &&
	work 4410 200 &&
	g add -A && g commit -q -m init &&
	g config core.untrackedCache true &&
	fstrack git-daemon enable repo >/dev/null &&
	g status >/dev/null &&
	precise_status "after the first" &&
	sleep 1
'

test_expect_success $P 'a clean stop: the socket goes; changes while down; back: precise' '
	fst_daemon_stop &&
	test ! -e "$SOCK" &&
	work 4411 30 &&
	start &&
	grep "answering git.s fsmonitor requests" "$FST_DAEMON_LOG" &&
	precise_status "after the restart" &&
	work 4412 20 &&
	precise_status "live again"
'

test_expect_success $P 'kill -9: the socket stays, nobody answers; back: precise' '
	sleep 1 &&
	fst_daemon_kill &&
	test -S "$SOCK" &&
	work 4413 30 &&
	start &&
	precise_status "after kill -9" &&
	work 4414 20 &&
	precise_status "after kill -9, live again"
'

test_expect_success $P 'six more rounds of work, commits and restarts, SIGTERM and SIGKILL' '
	i=0 &&
	while test $i -lt 6
	do
		work $((4420 + $i)) 40 &&
		if test $(($i % 2)) = 0
		then
			fst_daemon_stop
		else
			sleep 1 && fst_daemon_kill
		fi &&
		work $((4430 + $i)) 15 &&
		start &&
		precise_status "round $i" &&
		g add -A && g commit -q -m "round $i" &&
		precise_status "round $i, committed" || return 1
		i=$(($i + 1))
	done
'

test_expect_success $P 'an overflow of the kernel queue: the token holds, answers stay precise' '
	overflow_storm 4440 &&
	precise_status "after the overflow" &&
	overflow_counted
'

# Nobody answers while fstrackd is down: git starts its own daemon, which
# takes the socket. fstrackd, back, asks it to stop (as "git
# fsmonitor--daemon stop") and listens again. (HOME tells this git daemon
# from others: it changes into HOME.)
test_expect_success $P 'git while fstrackd is down starts its own daemon; fstrackd takes the socket back' '
	fst_daemon_stop &&
	mkdir ghome &&
	work 4450 20 &&
	rm -f "$T/trace.json" &&
	(cd repo && HOME=$T/ghome GIT_TRACE2_EVENT="$T/trace.json" git status >/dev/null) &&
	grep -q fsmonitor--daemon "$T/trace.json" &&
	for p in $(pgrep -f "fsmonitor--daemon run")
	do
		test "$(readlink /proc/$p/cwd)" = "$T/ghome" && echo $p
	done >gpid &&
	test "$(wc -l <gpid)" = 1 &&
	same_status "git'\''s own daemon" &&
	start &&
	n=0 &&
	while kill -0 $(cat gpid) 2>/dev/null
	do
		test $n -lt 50 || { echo "git'\''s daemon $(cat gpid) is still running"; return 1; }
		sleep 0.1
		n=$(($n + 1))
	done &&
	grep "asked to stop" "$FST_DAEMON_LOG" &&
	rm -f "$T/trace.json" &&
	(cd repo && GIT_TRACE2_EVENT="$T/trace.json" git status >/dev/null) &&
	ipc_used "$T/trace.json" "taken back" &&
	ipc_trivial "$T/trace.json" &&
	g status >/dev/null &&
	work 4451 20 &&
	precise_status "taken back, then live"
'

test_expect_success $P 'stop the daemon, unmount' '
	fst_daemon_stop &&
	umount "$PWD/mnt"
'

fst_done
