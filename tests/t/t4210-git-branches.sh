#!/bin/sh
test_description='git-fsmonitor: a repository of thousands of files, branches, checkout, stash

A work tree of 3,000 files; random edits, adds, deletes and renames of
files and directories, git add and commit, git checkout of other branches
(which rewrites many files at once), git stash and stash pop. After every
step "git status --porcelain=v2" (normal and -uall) with the hook equals
git status without it.'

. "$(dirname "$0")"/../lib/test-lib.sh

. "$FST_SRC_DIR"/tests/lib/git-lib.sh

P=ROOT,TMPFS,FANOTIFY,GIT

FSMON="the hook"
fsmon_setup() {
	g config core.fsmonitor "$FSTRACK git-fsmonitor"
}
check_status() {
	same_status "$@"
}
fsmon_back() {
	:
}
# the reset got "/" from the hook
fsmon_reset_check() {
	grep -q '"key":"query/trivial-response"' "$1"
}

. "$FST_SRC_DIR"/tests/lib/git-branches.sh

test_expect_success $P 'stop the daemon; no sanitizer reports' '
	fst_daemon_stop &&
	fst_check_sanitizer
'

fst_done
