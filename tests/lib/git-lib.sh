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
