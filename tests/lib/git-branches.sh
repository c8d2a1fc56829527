# The scenario of t4210 (the hook) and t4420 (fstrackd on git's socket):
# a repository of thousands of files, branches, checkout, stash and a "/"
# answer to a command that lists no untracked files. Sourced after
# test-lib.sh and git-lib.sh, with P (the prerequisites), FSMON (what
# answers git, for the titles) and these functions set:
#   fsmon_setup              make git ask it (in ./repo)
#   check_status STEP        git status with it equals git status without
#   fsmon_back               after the daemon started again: wait until it answers
#   fsmon_reset_check TRACE  what the trace2 events of the "git reset" that
#                            got "/" must show

g() {
	(cd repo && git -c user.name=t -c user.email=t@t "$@")
}

test_expect_success $P "setup: 3,000 files in 60 directories, committed, $FSMON" '
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
	fsmon_setup &&
	g status >/dev/null &&
	check_status first
'

test_expect_success $P 'a branch with edits, deletes, a renamed directory; checkout back and forth' '
	g checkout -q -b topic &&
	check_status "checkout -b" &&
	fst-test-tool workload --seed 4210 --ops 40 repo/src/d1 >/dev/null &&
	rm repo/src/d2/f1.txt repo/src/d2/f2.txt &&
	g mv src/d3 src/d3-renamed &&
	echo new >repo/src/d4/added.txt &&
	check_status "edits on topic" &&
	g add -A && g commit -q -m topic &&
	check_status "commit on topic" &&
	g checkout -q main &&
	check_status "checkout main" &&
	g checkout -q topic &&
	check_status "checkout topic" &&
	g checkout -q main &&
	check_status "checkout main again"
'

test_expect_success $P 'random work over the whole tree, with commits and branch switches' '
	i=0 &&
	while test $i -lt 6
	do
		fst-test-tool workload --seed $((4220 + $i)) --ops 60 repo/src >/dev/null &&
		check_status "work $i" &&
		g add -A && g commit -q -m "work $i" &&
		check_status "commit $i" &&
		if test $(($i % 2)) = 0
		then
			g checkout -q topic && check_status "to topic $i" &&
			g checkout -q main && check_status "to main $i"
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
	check_status "before stash" &&
	g stash push -q -u &&
	check_status "stashed" &&
	g stash pop -q &&
	check_status "popped" &&
	g add -A && g commit -q -m "after stash" &&
	check_status "committed"
'

# A "/" answer (here: the top of the work tree changed while the daemon
# was down) makes git re-check its index, but its untracked cache is only
# distrusted by the process that got the "/". "git reset" gets it and
# writes the index with the new token, its untracked cache unchanged; the
# answer marks that token so that the next answer re-reads every directory.
# It names real paths for that (git looks each one up, with
# core.ignorecase in its name hash), but for a directory left empty, which
# no real name inside can make git re-read; and it goes into directories
# whose names have a tab (git takes paths through them: a removed untracked
# file there was once still shown). (The changes call waits for
# the catch-up scan: the reset must get the "/", not a scan in progress.)
test_expect_success $P 'a "/" answer to a command that lists no untracked files' '
	g config core.ignorecase true &&
	echo u >repo/top-untracked.txt &&
	echo u >repo/src/d5/untracked.txt &&
	mkdir repo/src/emptied && echo u >repo/src/emptied/u.txt &&
	tab=$(printf "tab\tdir") &&
	mkdir "repo/src/$tab" && echo t >"repo/src/$tab/t.txt" &&
	g add "src/$tab/t.txt" && g commit -q -m tab &&
	echo u >"repo/src/$tab/u.txt" &&
	check_status "untracked files listed" &&
	fstrack token repo >before.tok &&
	fst_daemon_kill &&
	rm repo/top-untracked.txt repo/src/d5/untracked.txt repo/src/emptied/u.txt \
		"repo/src/$tab/u.txt" &&
	echo t >repo/top-new.txt &&
	fst_daemon_start &&
	fstrack changes --since "$(cat before.tok)" repo >/dev/null &&
	fsmon_back &&
	rm -f "$SHARNESS_TRASH_DIRECTORY/reset.json" &&
	(cd repo && GIT_TRACE2_EVENT="$SHARNESS_TRASH_DIRECTORY/reset.json" git reset -q) &&
	fsmon_reset_check "$SHARNESS_TRASH_DIRECTORY/reset.json" &&
	trace=$PWD/trace &&
	(cd repo && GIT_TRACE_FSMONITOR="$trace" git status --porcelain=v2 >/dev/null) &&
	grep -q "+untracked-rescan" trace &&
	hook_paths_real trace &&
	check_status "after the reset" &&
	g config --unset core.ignorecase
'

