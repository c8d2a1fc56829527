# Shared by the git-fsmonitor tests; sourced after test-lib.sh.

fst_lazy_prereq GIT '
	command -v git >/dev/null || { echo "git is not installed"; exit 1; }
'

# same_status STEP: git status in ./repo with the hook equals git status
# without it (--no-optional-locks, so the index keeps its fsmonitor token)
same_status() {
	for mode in -unormal -uall
	do
		(cd repo && git status --porcelain=v2 $mode) >with 2>with.err &&
		(cd repo && git --no-optional-locks -c core.fsmonitor= status --porcelain=v2 $mode) \
			>without 2>&1 &&
		if ! test_cmp without with
		then
			echo "$1, $mode: git status differs with the hook (stderr: $(cat with.err))"
			return 1
		fi
	done
}

# hook_paths_real TRACE: every path that git got from the hook (in the
# GIT_TRACE_FSMONITOR output TRACE of a command in ./repo) names something
# in the work tree: a file or directory there ("d/" for a directory), or
# the one name the hook gives inside an empty directory, DIR/.fstrack-rescan
# (git has no real name that makes it re-read an empty directory).
# Only for an answer with no change in it: a change may name a deleted path.
hook_paths_real() {
	sed -n "s/.* fsmonitor_refresh_callback '\\(.*\\)' (pos -\\{0,1\\}[0-9]*)\$/\\1/p" "$1" >hook-paths &&
	test -s hook-paths || { echo "no paths from the hook in $1"; return 1; }
	while read -r p
	do
		p=${p%/}
		test -e "repo/$p" || test -L "repo/$p" && continue
		case $p in
		*/.fstrack-rescan | .fstrack-rescan)
			d=$(dirname "$p")
			if test -d "repo/$d" && test -z "$(ls -A "repo/$d")"
			then
				continue
			fi ;;
		esac
		echo "the hook named $p, which is not in the work tree"
		return 1
	done <hook-paths
}
