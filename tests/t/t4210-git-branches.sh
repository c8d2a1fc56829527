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


g() {
	(cd repo && git -c user.name=t -c user.email=t@t "$@")
}

test_expect_success $P 'setup: 3,000 files in 60 directories, committed, the hook' '
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
	g config core.fsmonitor "$FSTRACK git-fsmonitor" &&
	g status >/dev/null &&
	same_status first
'

test_expect_success $P 'a branch with edits, deletes, a renamed directory; checkout back and forth' '
	g checkout -q -b topic &&
	same_status "checkout -b" &&
	fst-test-tool workload --seed 4210 --ops 40 repo/src/d1 >/dev/null &&
	rm repo/src/d2/f1.txt repo/src/d2/f2.txt &&
	g mv src/d3 src/d3-renamed &&
	echo new >repo/src/d4/added.txt &&
	same_status "edits on topic" &&
	g add -A && g commit -q -m topic &&
	same_status "commit on topic" &&
	g checkout -q main &&
	same_status "checkout main" &&
	g checkout -q topic &&
	same_status "checkout topic" &&
	g checkout -q main &&
	same_status "checkout main again"
'

test_expect_success $P 'random work over the whole tree, with commits and branch switches' '
	i=0 &&
	while test $i -lt 6
	do
		fst-test-tool workload --seed $((4220 + $i)) --ops 60 repo/src >/dev/null &&
		same_status "work $i" &&
		g add -A && g commit -q -m "work $i" &&
		same_status "commit $i" &&
		if test $(($i % 2)) = 0
		then
			g checkout -q topic && same_status "to topic $i" &&
			g checkout -q main && same_status "to main $i"
		fi || return 1
		i=$(($i + 1))
	done
'

# Known breakage, left in view: after "git stash push -u", git 2.39 has
# written the index (with a new fsmonitor token) from a step of the stash
# that ran after the untracked file was removed, yet its untracked cache
# still lists that file, and no later hook answer names it again. The
# hook did report the deletion to the git process that asked. Whether
# this is git's (an untracked-cache entry kept across that token) or ours
# is not settled; README "Limits" says so. It runs last: the stale entry
# stays in the index.
test_expect_failure $P 'stash and stash pop' '
	echo changed >>repo/src/d5/f5.txt &&
	rm repo/src/d6/f6.txt &&
	echo untracked >repo/src/d7/u.txt &&
	mkdir repo/newdir && echo n >repo/newdir/n.txt &&
	same_status "before stash" &&
	g stash push -q -u &&
	same_status "stashed" &&
	g stash pop -q &&
	same_status "popped" &&
	g add -A && g commit -q -m "after stash" &&
	same_status "committed"
'

test_expect_success $P 'stop the daemon; no sanitizer reports' '
	fst_daemon_stop &&
	fst_check_sanitizer
'

fst_done
