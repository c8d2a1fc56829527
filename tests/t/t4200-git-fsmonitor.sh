#!/bin/sh
test_description='fstrack git-fsmonitor: git status with the hook equals git status without

git runs "fstrack git-fsmonitor 2 TOKEN" (core.fsmonitor) in the work tree.
With core.untrackedCache on, git trusts what the hook does not report, so
a missing path shows as a wrong status. Each step compares
"git status --porcelain=v2" (normal and -uall) with the hook against git
without it (--no-optional-locks, so that the index keeps its fsmonitor
token), after random work loads, changes made while the daemon was
killed, hard links, with the daemon stopped, and checks that the hook
answers precisely (not "/") when it can.'

. "$(dirname "$0")"/../lib/test-lib.sh

. "$FST_SRC_DIR"/tests/lib/git-lib.sh

P=ROOT,TMPFS,FANOTIFY,GIT


T=$SHARNESS_TRASH_DIRECTORY

# git_traced ARGS: git in the work tree, its trace2 events in $T/trace.json
git_traced() {
	rm -f "$T/trace.json" &&
	(cd repo && GIT_TRACE2_EVENT="$T/trace.json" git "$@")
}

# Did the hook answer "/" (trivial) to the last git_traced? 2: no trace.
trivial_answer() {
	test -s "$T/trace.json" || { echo "git wrote no trace"; return 2; }
	grep -q "query/trivial-response" "$T/trace.json"
}

commit() {
	(cd repo && git add -A && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m "$1")
}

work() {
	fst-test-tool workload --seed "$1" --ops "${2:-20}" repo/w >/dev/null
}

test_expect_success $P 'setup: a repository on a tmpfs, the hook, the untracked cache' '
	fst_mount_tmpfs "$PWD/mnt" &&
	fst_daemon_start &&
	git init -q mnt/repo &&
	ln -s mnt/repo repo &&
	mkdir repo/w &&
	work 4200 150 &&
	mkdir -p repo/a/b repo/x/y &&
	for d in a a/b x x/y; do echo t >repo/$d/t1; echo t >repo/$d/t2; done &&
	commit init &&
	(cd repo &&
	 git config core.untrackedCache true &&
	 git config core.fsmonitor "$FSTRACK git-fsmonitor")
'

# After the "/" the next answer names every directory for git to re-read,
# with real paths (see t4210 for why).
test_expect_success $P 'first use: the hook watches the work tree and answers "/"' '
	git_traced status >/dev/null &&
	trivial_answer &&
	fstrack status --json >status.json &&
	fst-test-tool json status.json scopes "*" path | grep -x "$(cd repo && pwd -P)" &&
	(cd repo && GIT_TRACE_FSMONITOR="$T/trace.fsm" git status >/dev/null) &&
	grep -q "+untracked-rescan" "$T/trace.fsm" &&
	hook_paths_real "$T/trace.fsm" &&
	same_status first
'

test_expect_success $P 'later answers are precise, and right, after each of 12 work loads' '
	trivial=0 &&
	for i in 1 2 3 4 5 6 7 8 9 10 11 12
	do
		work $((4210 + $i)) &&
		git_traced status >/dev/null &&
		{ trivial_answer; rc=$?; } &&
		case $rc in
		0) trivial=$(($trivial + 1)) ;;
		1) ;;
		*) return 1 ;;
		esac &&
		same_status "round $i" || return 1
		if test $(($i % 4)) = 0
		then
			commit r$i || return 1
		fi
	done &&
	test $trivial = 0
'

test_expect_success $P 'untracked files in a new directory, a removed tracked file, a new name at the top: precise' '
	mkdir -p repo/a/b/new/deeper &&
	: >repo/a/b/new/deeper/u &&
	rm repo/x/t1 &&
	: >repo/top-untracked &&
	git_traced status >/dev/null &&
	{ trivial_answer; rc=$?; } &&
	test $rc = 1 &&
	same_status "simple changes"
'

test_expect_success $P 'a file written through a hard link: both names show as modified' '
	echo h >repo/a/hl &&
	ln repo/a/hl repo/x/hl2 &&
	commit hl &&
	same_status "hard links, before" &&
	echo more >>repo/a/hl &&
	same_status "hard links, after"
'

# a/emptied holds only an untracked file, removed while the daemon is down:
# the answer says "entries" for it, and git must re-read a directory that
# is empty now.
test_expect_success $P 'changes while the daemon was killed: right answers' '
	mkdir repo/a/emptied && : >repo/a/emptied/u &&
	same_status before &&
	sleep 1 &&
	fst_daemon_kill &&
	rm repo/a/emptied/u &&
	rm repo/a/b/t1 &&
	: >repo/x/y/while-down &&
	mkdir repo/a/b/down-dir &&
	: >repo/a/b/down-dir/u &&
	work 4230 10 &&
	fst_daemon_start &&
	same_status "after the restart" &&
	work 4231 10 &&
	same_status "after the restart, live again"
'

test_expect_success $P 'the daemon stopped: right status, a warning, the old token kept' '
	same_status before &&
	fst_daemon_stop &&
	: >repo/while-stopped &&
	(cd repo && git status --porcelain=v2) >with 2>err &&
	grep "warning: cannot connect to fstrackd.*git checks every file" err &&
	(cd repo && git --no-optional-locks -c core.fsmonitor= status --porcelain=v2) >without &&
	test_cmp without with &&
	(cd repo && GIT_TRACE_FSMONITOR=1 git status 2>&1 >/dev/null) >trace &&
	grep "extension successful .fst1:" trace &&
	fst_daemon_start &&
	same_status "the daemon back"
'

test_expect_success $P 'the hook leaves out .git and answers "/" for version 1' '
	tok=$(cd repo && GIT_TRACE_FSMONITOR=1 git status 2>&1 >/dev/null |
		sed -n "s/.*read fsmonitor extension successful .\\(fst1:[^'\'']*\\).*/\\1/p" | tail -n 1) &&
	test -n "$tok" &&
	commit empty &&
	(cd repo && "$FSTRACK" git-fsmonitor 2 "$tok") >raw &&
	tr "\\0" "\\n" <raw >answer &&
	head -n 1 answer | grep "^fst1:" &&
	! grep "^\\.git" answer &&
	! grep "/\\.git/" answer &&
	(cd repo && "$FSTRACK" git-fsmonitor 1 12345) >v1 &&
	printf / >expect &&
	test_cmp expect v1 &&
	test_expect_code 1 "$FSTRACK" git-fsmonitor 3 x 2>err &&
	grep "version" err
'

test_expect_success $P 'a token that is not ours (git'\''s first time stamp) starts over' '
	(cd repo && "$FSTRACK" git-fsmonitor 2 1700000000000000000) >raw &&
	tr "\\0" "\\n" <raw >answer &&
	head -n 1 answer | grep "^fst1:" &&
	sed -n 2p answer | grep -x / &&
	test "$(wc -l <answer)" = 2
'

# An empty work tree has no name for git to re-read its listing by, and
# nothing for git to check: the rescan answer is "/" again, still marked,
# until a name appears.
test_expect_success $P 'an empty work tree: "/" again after "/", the mark kept' '
	git init -q mnt/empty &&
	(cd mnt/empty && "$FSTRACK" git-fsmonitor 2 1700000000000000000) >raw &&
	tr "\\0" "\\n" <raw >answer &&
	tok=$(head -n 1 answer) &&
	case $tok in *+untracked-rescan) ;; *) echo "not marked: $tok"; return 1 ;; esac &&
	(cd mnt/empty && "$FSTRACK" git-fsmonitor 2 "$tok") >raw &&
	tr "\\0" "\\n" <raw >answer &&
	head -n 1 answer | grep "+untracked-rescan\$" &&
	sed -n 2p answer | grep -x / &&
	test "$(wc -l <answer)" = 2 &&
	: >mnt/empty/f &&
	(cd mnt/empty && "$FSTRACK" git-fsmonitor 2 "$tok") >raw &&
	tr "\\0" "\\n" <raw >answer &&
	sed -n "2,\$p" answer >paths &&
	grep -x f paths &&
	! grep -x / paths
'

# Unmount before sharness removes the trash directory (its rm -rf must not
# walk into the mount).
test_expect_success $P 'stop the daemon, unmount' '
	fst_daemon_stop &&
	umount "$PWD/mnt"
'

fst_done
