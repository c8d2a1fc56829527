#!/bin/sh
test_description='fstrack git-daemon: fstrackd answers git'\''s builtin fsmonitor protocol

With core.fsmonitor = true, git (>= 2.55) asks the daemon on
.git/fsmonitor--daemon.ipc and starts its own only when nobody answers.
"fstrack git-daemon enable" has fstrackd answer there. Each step compares
"git status --porcelain=v2" (normal and -uall) through the socket with
git status without fsmonitor, checks in git'\''s trace2 events that git
got its answer over the socket and started no daemon of its own, and that
answers are precise (not "/") when they can be. Also: an answer of many
packets, a user'\''s own repository, a linked work tree, "git
fsmonitor--daemon stop", taking the socket over from git'\''s own daemon,
and disable. (The daemon side spoken to directly, without git 2.55:
t4405.)'

. "$(dirname "$0")"/../lib/test-lib.sh

. "$FST_SRC_DIR"/tests/lib/git-lib.sh
. "$FST_SRC_DIR"/tests/lib/git-ipc-lib.sh

P=ROOT,TMPFS,FANOTIFY,GIT255

T=$SHARNESS_TRASH_DIRECTORY
SOCK=$T/mnt/repo/.git/fsmonitor--daemon.ipc

# git status in ./repo with its trace2 events in $T/trace.json
status_traced() {
	rm -f "$T/trace.json" &&
	(cd repo && GIT_TRACE2_EVENT="$T/trace.json" git status --porcelain=v2 >/dev/null)
}

test_expect_success $P 'setup: a repository on a tmpfs, enabled' '
	fst_mount_tmpfs "$PWD/mnt" &&
	fst_daemon_start &&
	git init -q mnt/repo &&
	ln -s mnt/repo repo &&
	mkdir repo/w &&
	work 4400 150 &&
	mkdir -p repo/a/b repo/x/y &&
	for d in a a/b x x/y; do echo t >repo/$d/t1; echo t >repo/$d/t2; done &&
	g add -A && g commit -q -m init &&
	g config core.untrackedCache true &&
	ipc_enable
'

test_expect_success $P 'first status: "/" with a marked token, then every directory re-read' '
	status_traced &&
	ipc_used "$T/trace.json" first &&
	ipc_trivial "$T/trace.json" &&
	(cd repo && GIT_TRACE_FSMONITOR="$T/trace.fsm" git status >/dev/null) &&
	grep -q "read fsmonitor extension successful .fst1:.*+untracked-rescan" "$T/trace.fsm" &&
	hook_paths_real "$T/trace.fsm" &&
	ipc_status first
'

test_expect_success $P 'precise answers, right, after each of 12 work loads' '
	i=1 &&
	while test $i -le 12
	do
		work $((4410 + $i)) &&
		status_traced &&
		ipc_used "$T/trace.json" "round $i" &&
		if ipc_trivial "$T/trace.json"
		then
			echo "round $i: answered \"/\""
			return 1
		fi &&
		ipc_status "round $i" || return 1
		if test $(($i % 4)) = 0
		then
			g add -A && g commit -q -m r$i || return 1
		fi
		i=$(($i + 1))
	done
'

test_expect_success $P 'new untracked directory, a removed tracked file, hard links' '
	mkdir -p repo/a/b/new/deeper &&
	: >repo/a/b/new/deeper/u &&
	rm repo/x/t1 &&
	echo h >repo/a/hl &&
	ln repo/a/hl repo/x/hl2 &&
	status_traced &&
	! ipc_trivial "$T/trace.json" &&
	ipc_status "simple changes" &&
	g add -A && g commit -q -m hl &&
	echo more >>repo/a/hl &&
	ipc_status "written through one name"
'

# More than 65516 bytes of paths: fstrackd sends the answer in several
# packets (t4405), and git reads it whole.
test_expect_success $P 'a long answer in many packets; git reads it whole' '
	many_files &&
	status_traced &&
	! ipc_trivial "$T/trace.json" &&
	len=$(sed -n "s/.*\"key\":\"query\/response-length\",\"value\":\"\([0-9]*\)\".*/\1/p" "$T/trace.json") &&
	test "$len" -gt 65516 &&
	ipc_status "1,500 new files"
'

# A user's repository: the socket is theirs, and the answer is made with
# their rights (the changes are made by root, with modes of every kind,
# then handed to the user).
test_expect_success $P,SETPRIV 'a user'\''s own repository: their socket, answered' '
	mkdir mnt/user mnt/user-home &&
	chown 65534:65534 mnt/user mnt/user-home &&
	as_user git init -q repo &&
	as_user mkdir repo/w &&
	user_work 4401 60 &&
	as_user git -C repo add -A &&
	as_user git -C repo -c user.name=u -c user.email=u@u commit -q -m files &&
	as_user git -C repo config core.untrackedCache true &&
	as_user fstrack git-daemon enable repo &&
	test "$(stat -c "%a %u" mnt/user/repo/.git/fsmonitor--daemon.ipc)" = "600 65534" &&
	as_user git -C repo status >/dev/null &&
	i=0 &&
	while test $i -lt 4
	do
		user_work $((4402 + $i)) &&
		rm -f "$T/mnt/user-home/utrace.json" &&
		as_user env GIT_TRACE2_EVENT="$T/mnt/user-home/utrace.json" git -C repo status --porcelain=v2 -uall >with &&
		as_user git -C repo --no-optional-locks -c core.fsmonitor= status --porcelain=v2 -uall >without &&
		test_cmp without with &&
		ipc_used "$T/mnt/user-home/utrace.json" "user round $i" || return 1
		i=$(($i + 1))
	done &&
	as_user fstrack git-daemon list >list &&
	grep "listening.*mnt/user/repo" list &&
	! grep "mnt/repo\$" list &&
	as_user fstrack git-daemon disable repo &&
	test ! -e mnt/user/repo/.git/fsmonitor--daemon.ipc
'

# core.fsmonitor is the repository's, shared by its work trees: disabling
# one leaves it set while fstrackd answers for another.
test_expect_success $P 'a linked work tree: its own socket in .git/worktrees' '
	g worktree add -q ../linked &&
	fstrack git-daemon enable mnt/linked >out &&
	grep "socket $(cd repo && pwd -P)/.git/worktrees/linked/fsmonitor--daemon.ipc" out &&
	test -S repo/.git/worktrees/linked/fsmonitor--daemon.ipc &&
	(cd mnt/linked && git status >/dev/null) &&
	echo new >mnt/linked/w/linked-new &&
	rm -f "$T/ltrace.json" &&
	(cd mnt/linked && GIT_TRACE2_EVENT="$T/ltrace.json" git status --porcelain=v2 -uall) >with &&
	(cd mnt/linked && git --no-optional-locks -c core.fsmonitor= status --porcelain=v2 -uall) >without &&
	test_cmp without with &&
	ipc_used "$T/ltrace.json" linked &&
	fstrack git-daemon disable mnt/linked >out &&
	grep "core.fsmonitor stays true" out &&
	test "$(g config core.fsmonitor)" = true &&
	test ! -e repo/.git/worktrees/linked/fsmonitor--daemon.ipc &&
	g worktree remove --force ../linked
'

test_expect_success $P 'git fsmonitor--daemon stop: fstrackd stops answering there' '
	(cd repo && git fsmonitor--daemon status) >st &&
	grep "is watching" st &&
	(cd repo && git fsmonitor--daemon stop) &&
	test_expect_code 1 fstrack git-daemon status repo &&
	test ! -e "$SOCK" &&
	test "$(g config core.fsmonitor)" = true &&
	grep "no longer answering for .*git asked it to stop" "$FST_DAEMON_LOG"
'

# Now nobody answers, and core.fsmonitor is still true: git starts its own
# daemon (the positive control of "git started no daemon"; HOME tells it
# from other git daemons: it changes into HOME), and enable asks it to
# stop, as "git fsmonitor--daemon stop" would, and takes the socket.
test_expect_success $P 'enable takes the socket over from git'\''s own daemon' '
	mkdir ghome &&
	rm -f "$T/trace.json" &&
	(cd repo && HOME=$T/ghome GIT_TRACE2_EVENT="$T/trace.json" git status >/dev/null) &&
	grep -q fsmonitor--daemon "$T/trace.json" &&
	for p in $(pgrep -f "fsmonitor--daemon run")
	do
		test "$(readlink /proc/$p/cwd)" = "$T/ghome" && echo $p
	done >gpid &&
	test "$(wc -l <gpid)" = 1 &&
	fstrack git-daemon enable repo &&
	fstrack git-daemon status repo &&
	n=0 &&
	while kill -0 $(cat gpid) 2>/dev/null
	do
		test $n -lt 50 || { echo "git'\''s daemon $(cat gpid) is still running"; return 1; }
		sleep 0.1
		n=$(($n + 1))
	done &&
	grep "asked to stop" "$FST_DAEMON_LOG" &&
	status_traced &&
	ipc_used "$T/trace.json" "taken over" &&
	ipc_trivial "$T/trace.json" &&
	ipc_status "taken over"
'

test_expect_success $P 'disable: core.fsmonitor unset, socket gone, git starts nothing' '
	ipc_disable &&
	status_traced &&
	! grep -q "fsm_client\|fsmonitor--daemon" "$T/trace.json"
'

# Unmount before sharness removes the trash directory (its rm -rf must not
# walk into the mount).
test_expect_success $P 'stop the daemon, unmount' '
	fst_daemon_stop &&
	umount "$PWD/mnt"
'

fst_done
