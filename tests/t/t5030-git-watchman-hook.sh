#!/bin/sh
test_description='git'"'"'s fsmonitor-watchman.sample hook through fstrack'"'"'s watchman command

git'"'"'s own Watchman hook (from the installed git'"'"'s templates, unchanged)
runs "watchman -j --no-pretty" with a query since its last clock; here
"watchman" is fstrack-watchman and answers from fstrackd. On first use
the hook finds the work tree "not watched" (Watchman'"'"'s error text),
watches it and answers "everything". Then "git status" with the hook
must equal "git status" without it, after random work loads, commits,
branch switches, and changes made while the daemon was down.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/git-lib.sh
. "$FST_SRC_DIR"/tests/lib/watchman-lib.sh

HOOK_SAMPLE=${GIT_TEMPLATE_HOOKS:-/usr/share/git-core/templates/hooks}/fsmonitor-watchman.sample
fst_lazy_prereq WATCHMAN_HOOK '
	test -f "$HOOK_SAMPLE" || { echo "$HOOK_SAMPLE not found (git'"'"'s templates)"; exit 1; }
'
P=ROOT,TMPFS,FANOTIFY,GIT,PERL_JSON,WATCHMAN_HOOK
T=$SHARNESS_TRASH_DIRECTORY

# git finds "watchman" (fstrack-watchman) first in PATH, and the socket in WATCHMAN_SOCK
PATH=$FST_WBIN:$PATH
WATCHMAN_SOCK=$FST_WSOCK
export PATH WATCHMAN_SOCK

commit() {
	(cd repo && git add -A && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m "$1")
}

work() {
	fst-test-tool workload --seed "$1" --ops "${2:-20}" repo/w >/dev/null
}

# git status in the repo with its fsmonitor traces; the hook's answer was "/"?
traced_status() {
	rm -f "$T/trace.json" &&
	(cd repo && GIT_TRACE2_EVENT="$T/trace.json" git status >/dev/null)
}

trivial_answer() {
	grep -q "query/trivial-response" "$T/trace.json"
}

test_expect_success $P 'setup: a repository on a tmpfs, git'"'"'s Watchman hook, the untracked cache' '
	fst_mount_tmpfs "$PWD/mnt" &&
	fst_daemon_start &&
	git init -q mnt/repo &&
	ln -s mnt/repo repo &&
	mkdir repo/w &&
	work 5030 150 &&
	mkdir -p repo/a/b repo/x/y &&
	for d in a a/b x x/y; do echo t >repo/$d/t1; echo t >repo/$d/t2; done &&
	echo top >repo/top &&
	commit init &&
	cp "$HOOK_SAMPLE" repo/.git/hooks/query-watchman &&
	chmod +x repo/.git/hooks/query-watchman &&
	(cd repo &&
	 git config core.fsmonitor .git/hooks/query-watchman &&
	 git config core.untrackedCache true) &&
	fst_diag "$(git --version), hook $HOOK_SAMPLE"
'

test_expect_success $P 'first use: the hook watches the work tree and answers "/"' '
	traced_status &&
	trivial_answer &&
	wm --no-pretty watch-list >wl &&
	fst-test-tool json wl roots "*" | grep -x "$(cd repo && pwd -P)" &&
	same_status first
'

test_expect_success $P 'later answers come from fstrack, and git status is right, after 12 work loads' '
	for i in 1 2 3 4 5 6 7 8 9 10 11 12
	do
		work $((5030 + $i)) &&
		traced_status &&
		if trivial_answer
		then
			echo "round $i: the hook answered \"/\""
			return 1
		fi &&
		same_status "round $i" || return 1
		if test $(($i % 4)) = 0
		then
			commit r$i || return 1
		fi
	done
'

test_expect_success $P 'simple changes: a new directory, a removed tracked file, a new name at the top' '
	mkdir -p repo/a/b/new/deeper &&
	: >repo/a/b/new/deeper/u &&
	rm repo/x/t1 &&
	: >repo/top-untracked &&
	echo changed >repo/top &&
	same_status "simple changes" &&
	rm -r repo/x/y &&
	same_status "a removed directory" &&
	mv repo/a/b repo/a/moved &&
	same_status "a renamed directory" &&
	commit simple
'

test_expect_success $P 'branches: checkout back and forth, with changes between' '
	(cd repo && git checkout -q -b side) &&
	work 5050 30 &&
	rm -rf repo/a &&
	commit side &&
	same_status "on side" &&
	(cd repo && git checkout -q master 2>/dev/null || git checkout -q main) &&
	same_status "back" &&
	work 5051 20 &&
	same_status "back, worked" &&
	(cd repo && git stash -q -u) &&
	same_status "stashed" &&
	(cd repo && git checkout -q side) &&
	same_status "side again" &&
	(cd repo && git checkout -q - && git stash pop -q) &&
	same_status "popped"
'

# Below the top only: the hook prints what the query lists and ignores
# is_fresh_instance, so a name gone from the top while nobody watched is
# never given to git (the same with Watchman itself after a restart).
# Without the untracked cache: see the next test.
test_expect_success $P 'changes made while the daemon was down: a clock of before still answers' '
	(cd repo && git config core.untrackedCache false) &&
	same_status before &&
	tok_before=$(cd repo && GIT_TRACE_FSMONITOR=1 git status 2>&1 >/dev/null |
		sed -n "s/.*read fsmonitor extension successful .\\(c:fst1:[^'\'']*\\).*/\\1/p" | tail -n 1) &&
	test -n "$tok_before" &&
	sleep 3 && # past the catch-up scan'"'"'s margin (2 s): the top is not looked at again
	fst_daemon_stop &&
	rm repo/a/moved/t1 &&
	echo down >>repo/x/t2 &&
	mkdir repo/w/down-dir && : >repo/w/down-dir/u &&
	work 5060 15 &&
	fst_daemon_start &&
	wm --no-pretty since "$(cd repo && pwd -P)" "$tok_before" >since-restart &&
	test "$(wm_json since-restart is_fresh_instance)" = false &&
	traced_status &&
	! trivial_answer &&
	same_status "after the restart" &&
	work 5061 10 &&
	same_status "live again"
'

# After a gap fstrack names a directory whose entries changed, not the
# names that went; git re-reads the untracked-cache listing of a directory
# only for a name inside it. A directory emptied while the daemon was down
# keeps its stale listing until a name inside it is reported (README
# "Limits"; fstrack git-fsmonitor has no such hole).
test_expect_success $P 'the untracked cache: a directory emptied while down keeps its listing' '
	(cd repo && git config core.untrackedCache true) &&
	mkdir repo/w/emptied && : >repo/w/emptied/u &&
	same_status before &&
	(cd repo && git status --porcelain=v2) >with &&
	grep -x "? w/emptied/" with &&
	sleep 3 &&
	fst_daemon_stop &&
	rm repo/w/emptied/u &&
	fst_daemon_start &&
	(cd repo && git status --porcelain=v2) >with &&
	grep -x "? w/emptied/" with &&
	: >repo/w/emptied/v && rm repo/w/emptied/v &&
	same_status "a name inside it reported"
'

test_expect_success $P 'stop the daemon, unmount' '
	fst_daemon_stop &&
	umount "$PWD/mnt"
'

fst_done
