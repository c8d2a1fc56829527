#!/bin/sh
test_description='a user'"'"'s directory chain thousands deep (issue 9, case 2)

A user makes a chain of directories with a hard link of a file at the top
of its scope at the bottom, watches, appends to the file and asks for the
changes. The daemon used to search for the other names of a linked file
recursively, about 8 KiB of stack per level: a few thousand levels killed
it, as often as the user liked. Now the search is a breadth-first walk; a
directory it cannot open (its path is longer than PATH_MAX) is answered
"recursive". The daemon must survive and the answer must cover the change:
against the ground truth where the tree fits in PATH_MAX (1,900 deep), and
by name where it does not (4,000 deep, which the manifest tool cannot walk).'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

U=fst3010u

# uchanges TOKEN DIR FILE: the user's answer, checked against the contract
uchanges() {
	as_user $U "$FSTRACK" changes --since "$1" --json "$2" >"$3" &&
	fst-test-tool validate "$3"
}

test_expect_success ROOT,FANOTIFY,TMPFS,USERADD 'tmpfs, a user, its directory' '
	M=$PWD/m &&
	fst_mount_tmpfs "$M" &&
	trust_user $U &&
	mkdir "$M/u" && chown $U:$U "$M/u" &&
	fst_daemon_start &&
	test_set_prereq READY
'

test_expect_success READY '1,900 deep (inside PATH_MAX): the user watches, appends, asks' '
	S=$M/u/s1 &&
	as_user $U mkdir "$S" &&
	as_user $U sh -c "echo top >\"$S/f\"" &&
	as_user $U fst-attack chain "$S" 1900 d --link "$S/f" &&
	as_user $U "$FSTRACK" watch "$S" >/dev/null &&
	tok=$(as_user $U "$FSTRACK" token "$S") &&
	fst-test-tool manifest "$S" >s1.m0 &&
	as_user $U sh -c "echo more >>\"$S/f\"" &&
	fst-test-tool manifest "$S" >s1.m1 &&
	uchanges "$tok" "$S" s1.json &&
	fst_check_answer s1.m0 s1.m1 s1.json &&
	test "$(fst-test-tool answer s1.json fresh)" = false
'

test_expect_success READY '... the daemon is alive, and answers it again' '
	fstrack status >/dev/null &&
	uchanges "$tok" "$S" s1-again.json &&
	fst_check_answer s1.m0 s1.m1 s1-again.json
'

test_expect_success READY '4,000 deep (past PATH_MAX): the daemon survives, f is covered' '
	S=$M/u/s2 &&
	as_user $U mkdir "$S" &&
	as_user $U sh -c "echo top >\"$S/f\"" &&
	as_user $U fst-attack chain "$S" 4000 d --link "$S/f" &&
	as_user $U "$FSTRACK" watch "$S" >/dev/null &&
	tok2=$(as_user $U "$FSTRACK" token "$S") &&
	as_user $U sh -c "echo more >>\"$S/f\"" &&
	uchanges "$tok2" "$S" s2.json &&
	fst-test-tool covers s2.json f &&
	test "$(fst-test-tool answer s2.json fresh)" = false &&
	fstrack status >/dev/null
'

test_expect_success READY '... five times in a row, as the user and as root' '
	for i in 1 2 3 4 5
	do
		as_user $U sh -c "echo again$i >>\"$S/f\"" &&
		uchanges "$tok2" "$S" s2-$i.json &&
		fst-test-tool covers s2-$i.json f &&
		fst_changes "$tok2" "$S" s2-root-$i.json &&
		fst-test-tool covers s2-root-$i.json f || return 1
	done
'

test_expect_success READY '... and after a restart (the catch-up scan walks the chain too)' '
	fst_daemon_stop &&
	as_user $U sh -c "echo down >>\"$S/f\"" &&
	fst_daemon_start &&
	uchanges "$tok2" "$S" s2-restart.json &&
	fst-test-tool covers s2-restart.json f &&
	test "$(fst-test-tool answer s2-restart.json fresh)" = false
'

test_expect_success READY '... a file changed 3,000 deep (a path the daemon cannot name) is covered, widened' '
	tok3=$(as_user $U "$FSTRACK" token "$S") &&
	as_user $U fst-attack chain "$S" 3000 d --touch new &&
	uchanges "$tok3" "$S" s3.json &&
	fst-test-tool covers s3.json "$(printf "d/%.0s" $(seq 1 3000))new" &&
	test "$(fst-test-tool answer s3.json fresh)" = false
'

fst_done
