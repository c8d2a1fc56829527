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

FSMON="fstrackd on git's socket"
fsmon_setup() {
	fstrack git-daemon enable repo >/dev/null
}
check_status() {
	ipc_status "$@"
}
fsmon_back() {
	ipc_wait_listening repo
}
# the reset got "/" over the socket
fsmon_reset_check() {
	ipc_used "$1" reset &&
	ipc_trivial "$1"
}

. "$FST_SRC_DIR"/tests/lib/git-branches.sh

test_expect_success $P 'stop the daemon; no sanitizer reports' '
	fst_daemon_stop &&
	fst_check_sanitizer
'

fst_done
