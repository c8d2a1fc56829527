#!/bin/sh
test_description='fstrack git-daemon: a repository of thousands of files, branches, checkout, stash

As t4210 for the hook, through fstrackd'\''s git IPC: a work tree of
3,000 files; random edits, adds, deletes and renames of files and
directories, git add and commit, git checkout of other branches (which
rewrites many files at once), git stash and stash pop, and a "/" answer to
a command that lists no untracked files. After every step "git status
--porcelain=v2" (normal and -uall) through the socket equals git status
without fsmonitor, and git started no daemon of its own.'

. "$(dirname "$0")"/../lib/test-lib.sh

. "$FST_SRC_DIR"/tests/lib/git-lib.sh
. "$FST_SRC_DIR"/tests/lib/git-ipc-lib.sh

P=ROOT,TMPFS,FANOTIFY,GIT255

T=$SHARNESS_TRASH_DIRECTORY

g() {
	(cd repo && git -c user.name=t -c user.email=t@t "$@")
}

test_expect_success $P 'setup: 3,000 files in 60 directories, committed, enabled' '
	fst_mount_tmpfs "$PWD/mnt" &&
	fst_daemon_start &&
	git init -q -b main mnt/repo &&
	ln -s mnt/repo repo &&
	d=0 &&
	while test $d -lt 60
	do
		mkdir -p repo/src/d$d &&
		f=0 &&
		while test $f -lt 50
		do
			echo "file $d/$f" >repo/src/d$d/f$f.txt
			f=$(($f + 1))
		done
		d=$(($d + 1))
	done &&
	g add -A && g commit -q -m base &&
	test $(g ls-files | wc -l) = 3000 &&
	g config core.untrackedCache true &&
	fstrack git-daemon enable repo >/dev/null &&
	g status >/dev/null &&
	ipc_status first
'

test_expect_success $P 'a branch with edits, deletes, a renamed directory; checkout back and forth' '
	g checkout -q -b topic &&
	ipc_status "checkout -b" &&
	fst-test-tool workload --seed 4210 --ops 40 repo/src/d1 >/dev/null &&
	rm repo/src/d2/f1.txt repo/src/d2/f2.txt &&
	g mv src/d3 src/d3-renamed &&
	echo new >repo/src/d4/added.txt &&
	ipc_status "edits on topic" &&
	g add -A && g commit -q -m topic &&
	ipc_status "commit on topic" &&
	g checkout -q main &&
	ipc_status "checkout main" &&
	g checkout -q topic &&
	ipc_status "checkout topic" &&
	g checkout -q main &&
	ipc_status "checkout main again"
'

test_expect_success $P 'random work over the whole tree, with commits and branch switches' '
	i=0 &&
	while test $i -lt 6
	do
		fst-test-tool workload --seed $((4220 + $i)) --ops 60 repo/src >/dev/null &&
		ipc_status "work $i" &&
		g add -A && g commit -q -m "work $i" &&
		ipc_status "commit $i" &&
		if test $(($i % 2)) = 0
		then
			g checkout -q topic && ipc_status "to topic $i" &&
			g checkout -q main && ipc_status "to main $i"
		fi || return 1
		i=$(($i + 1))
	done
'

# The stash runs "git clean" (removes the untracked files) and then
# "git reset --hard", which asks the hook since a token from before the
# clean and writes the index without listing untracked files. The clean
# removed newdir/ from the top of the work tree; when that was answered
# with "/" (as "entries" of the top once was), git kept its cached listing
# of src/d7 with u.txt under the new token, and "stashed" failed.
test_expect_success $P 'stash and stash pop' '
	echo changed >>repo/src/d5/f5.txt &&
	rm repo/src/d6/f6.txt &&
	echo untracked >repo/src/d7/u.txt &&
	mkdir repo/newdir && echo n >repo/newdir/n.txt &&
	ipc_status "before stash" &&
	g stash push -q -u &&
	ipc_status "stashed" &&
	g stash pop -q &&
	ipc_status "popped" &&
	g add -A && g commit -q -m "after stash" &&
	ipc_status "committed"
'

# A "/" answer (here: the top of the work tree changed while the daemon
# was down) makes git re-check its index, but its untracked cache is only
# distrusted by the process that got the "/". "git reset" gets it and
# writes the index with the new token, its untracked cache unchanged; the
# answer marks that token so that the next answer re-reads every directory.
# It names real paths for that (git looks each one up, with
# core.ignorecase in its name hash), but for a directory left empty, which
# no real name inside can make git re-read. (The changes call waits for
# the catch-up scan: the reset must get the "/", not a scan in progress.)
test_expect_success $P 'a "/" answer to a command that lists no untracked files' '
	g config core.ignorecase true &&
	echo u >repo/top-untracked.txt &&
	echo u >repo/src/d5/untracked.txt &&
	mkdir repo/src/emptied && echo u >repo/src/emptied/u.txt &&
	ipc_status "untracked files listed" &&
	fstrack token repo >before.tok &&
	fst_daemon_kill &&
	rm repo/top-untracked.txt repo/src/d5/untracked.txt repo/src/emptied/u.txt &&
	echo t >repo/top-new.txt &&
	fst_daemon_start &&
	fstrack changes --since "$(cat before.tok)" repo >/dev/null &&
	n=0 &&
	until fstrack git-daemon status repo >/dev/null
	do
		test $n -lt 100 || return 1
		sleep 0.1
		n=$(($n + 1))
	done &&
	rm -f "$T/reset.json" &&
	(cd repo && GIT_TRACE2_EVENT="$T/reset.json" git reset -q) &&
	ipc_used "$T/reset.json" reset &&
	ipc_trivial "$T/reset.json" &&
	trace=$PWD/trace &&
	(cd repo && GIT_TRACE_FSMONITOR="$trace" git status --porcelain=v2 >/dev/null) &&
	grep -q "+untracked-rescan" trace &&
	hook_paths_real trace &&
	ipc_status "after the reset" &&
	g config --unset core.ignorecase
'

test_expect_success $P 'stop the daemon; no sanitizer reports' '
	fst_daemon_stop &&
	fst_check_sanitizer
'

fst_done
