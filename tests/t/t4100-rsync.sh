#!/bin/sh
test_description='changes --rsync and backup: the copy ends up equal to the source

"fstrack changes --rsync | rsync -a -I --delete --delete-missing-args
--files-from=- --from0 SRC/ COPY/" and "fstrack backup SRC DST" must leave
a copy that rsync itself finds equal to the source (rsync -n -i -c with
hard links and extended attributes), after random work loads, after
changes made while the daemon was killed (entries and recursive answers
from the catch-up scan), after a fresh answer, and across a failed rsync.'

. "$(dirname "$0")"/../lib/test-lib.sh

fst_lazy_prereq RSYNC '
	command -v rsync >/dev/null || { echo "rsync is not installed"; exit 1; }
'

P=ROOT,TMPFS,FANOTIFY,RSYNC

# same_tree A B: rsync finds nothing to do from A to B (B's backup state aside)
same_tree() {
	rsync -n -a -i -c -H -X --delete --exclude=/.fstrack-backup "$1/" "$2/" >same.out 2>&1 || {
		cat same.out
		return 1
	}
	if test -s same.out; then
		echo "$2 differs from $1:"
		head -n 40 same.out
		return 1
	fi
}

# Whether a difference is this test's business: the copy must equal the
# source where fstrackd's answer covers the changes. When the answer itself
# misses one (the ground truth is t1200's subject), say so and make the
# copy whole again. m0: the manifest at the token's time; a.json: the answer.
answer_complete() {
	fst-test-tool manifest mnt/src >m1 &&
	if fst-test-tool check --before m0 --after m1 --answer a.json >check.out 2>&1
	then
		return 0
	fi
	fst_diag "fstrackd missed changes (t1200 checks that, not this test): $(grep "FALSE NEGATIVE" check.out | head -n 3 | tr "\n" " ")"
	return 1
}

# by_hand: one incremental round of the documented recipe, src -> copy
by_hand() {
	fstrack changes --since "$(cat last.tok)" --rsync --token-file new.tok "$PWD/mnt/src" >list &&
	rsync -a -I -H -X --delete --delete-missing-args --files-from=list --from0 mnt/src/ copy/ &&
	mv new.tok last.tok
}

work() {
	fst-test-tool workload --seed "$1" --ops "${2:-60}" mnt/src >/dev/null
}

# every run keeps hard links and extended attributes, as same_tree compares them
backup() {
	fstrack backup -H --rsync-opt=-X "$@"
}

state_token() {
	sed -n "s/^token //p" "$1/.fstrack-backup"
}

test_expect_success $P 'setup: a tmpfs, the daemon, a source tree' '
	fst_mount_tmpfs "$PWD/mnt" &&
	mkdir mnt/src &&
	fst_daemon_start &&
	work 4100 200 &&
	fstrack watch mnt/src >last.tok &&
	rsync -a -H -X mnt/src/ copy/ &&
	same_tree mnt/src copy
'

# check_copy DIR: DIR equals the source, or the answer a.json was incomplete
check_copy() {
	if answer_complete
	then
		same_tree mnt/src "$1"
	else
		rsync -a -H -X --delete --exclude=/.fstrack-backup mnt/src/ "$1/"
	fi
}

test_expect_success $P 'changes --rsync by hand: equal after each of 8 work loads' '
	for i in 1 2 3 4 5 6 7 8
	do
		fst-test-tool manifest mnt/src >m0 &&
		work $((4110 + $i)) &&
		fstrack changes --since "$(cat last.tok)" --json mnt/src >a.json &&
		by_hand &&
		check_copy copy || { echo "round $i"; return 1; }
	done
'

test_expect_success $P 'changes --rsync by hand: equal after changes while the daemon was killed' '
	for i in 1 2 3
	do
		fst-test-tool manifest mnt/src >m0 &&
		work $((4130 + $i)) 30 &&
		fst_daemon_kill &&
		work $((4140 + $i)) 30 &&
		mkdir -p mnt/src/while-down/$i &&
		echo $i >mnt/src/while-down/$i/f &&
		fst_daemon_start &&
		fstrack changes --since "$(cat last.tok)" --json mnt/src >a.json &&
		by_hand &&
		check_copy copy || { echo "round $i"; return 1; }
	done
'

test_expect_success $P 'changes --rsync by hand: a file rewritten with its size and mtime kept' '
	echo aaaa >mnt/src/same-size &&
	touch -d "2001-01-01 00:00:00" mnt/src/same-size &&
	by_hand &&
	echo bbbb >mnt/src/same-size &&
	touch -d "2001-01-01 00:00:00" mnt/src/same-size &&
	by_hand &&
	test_cmp mnt/src/same-size copy/same-size
'

# "." (the top's own change) in the list makes rsync -I send every file at
# the top again; one with a hard link elsewhere needs its other name in
# the same list, or the copy ends up with two files.
test_expect_success $P 'changes --rsync by hand: a file at the top keeps its hard link below' '
	echo linked >mnt/src/top-linked &&
	mkdir -p mnt/src/deep/er &&
	ln mnt/src/top-linked mnt/src/deep/er/other-name &&
	by_hand &&
	same_tree mnt/src copy &&
	echo n >mnt/src/top-new &&
	by_hand &&
	same_tree mnt/src copy &&
	test "$(stat -c %i copy/top-linked)" = "$(stat -c %i copy/deep/er/other-name)"
'

test_expect_success $P 'the --rsync list: "dir/" for a moved-in tree, plain names otherwise' '
	t=$(fstrack token mnt/src) &&
	mkdir -p mnt/outside/tree/sub &&
	echo x >mnt/outside/tree/sub/f &&
	mv mnt/outside/tree mnt/src/moved-in &&
	echo y >mnt/src/plain-new &&
	fstrack changes --since "$t" --rsync mnt/src 2>/dev/null | tr "\\0" "\\n" >names &&
	grep -x "moved-in/" names &&
	grep -x "moved-in/sub/" names &&
	grep -x "plain-new" names &&
	! grep -x "moved-in/sub/f" names
'

test_expect_success $P 'changes --rsync after a fresh answer lists every directory' '
	forged=$(sed "s/^fst1:[0-9a-f]*:/fst1:0123456789abcdef0123456789abcdef:/" last.tok) &&
	fstrack changes --since "$forged" --rsync mnt/src 2>err | tr "\\0" "\\n" >names &&
	grep -x fresh err &&
	grep -x "." names &&
	(cd mnt/src && find . -mindepth 1 -type d | sed "s|^\./||; s|\$|/|") | sort >dirs &&
	grep -v -x "." names | sort >listed &&
	test_cmp dirs listed
'

test_expect_success $P 'backup: the first run copies everything and saves the state' '
	backup mnt/src bk &&
	same_tree mnt/src bk &&
	grep -x "source $PWD/mnt/src" bk/.fstrack-backup &&
	state_token bk | grep "^fst1:"
'

test_expect_success $P 'backup: incremental runs stay equal, and say so with -v' '
	for i in 1 2 3 4 5 6
	do
		fst-test-tool manifest mnt/src >m0 &&
		work $((4150 + $i)) &&
		fstrack changes --since "$(state_token bk)" --json mnt/src >a.json &&
		backup -v mnt/src bk >out 2>err &&
		grep "changed paths since the last backup" err &&
		check_copy bk || { echo "round $i"; cat err; return 1; }
	done
'

test_expect_success $P 'backup: equal after changes while the daemon was killed' '
	fst-test-tool manifest mnt/src >m0 &&
	fst_daemon_kill &&
	work 4160 40 &&
	rm -rf mnt/src/while-down &&
	fst_daemon_start &&
	fstrack changes --since "$(state_token bk)" --json mnt/src >a.json &&
	backup mnt/src bk &&
	check_copy bk
'

test_expect_success $P 'backup: a file rewritten with its size and mtime kept' '
	echo cccc >mnt/src/same-size &&
	touch -d "2001-01-01 00:00:00" mnt/src/same-size &&
	backup mnt/src bk &&
	test_cmp mnt/src/same-size bk/same-size
'

test_expect_success $P 'backup: a file written through one hard link changes in the copy under both names' '
	mkdir -p mnt/src/hl/a mnt/src/hl/b &&
	echo one >mnt/src/hl/a/f &&
	ln mnt/src/hl/a/f mnt/src/hl/b/g &&
	backup mnt/src bk &&
	echo two >>mnt/src/hl/a/f &&
	backup mnt/src bk &&
	printf "one\\ntwo\\n" >expect &&
	test_cmp expect bk/hl/b/g &&
	same_tree mnt/src bk
'

# rsync writes a temporary file next to the one it sends again, which
# changes the copy's top; rsync puts the times back only on directories
# it lists, so the list has "." as soon as it names anything at the top.
test_expect_success $P 'a file at the top written again: the copy keeps the top'"'"'s times' '
	echo one >mnt/src/top-file &&
	backup mnt/src bk &&
	by_hand &&
	same_tree mnt/src bk &&
	same_tree mnt/src copy &&
	sleep 0.01 &&
	echo two >>mnt/src/top-file &&
	backup mnt/src bk &&
	by_hand &&
	same_tree mnt/src bk &&
	same_tree mnt/src copy
'

test_expect_success $P 'backup: nothing changed means no rsync; the token is kept' '
	old=$(state_token bk) &&
	backup -v mnt/src bk 2>err &&
	grep "nothing changed" err &&
	! grep "running rsync" err &&
	# the saved token names the same journal position when nothing was
	# recorded since (it may be the same string); it must still be there
	case "$(state_token bk)" in fst1:*) ;; *) false ;; esac
'

test_expect_success $P 'backup: a failing rsync keeps the old token; the next run catches up' '
	old=$(state_token bk) &&
	fst-test-tool manifest mnt/src >m0 &&
	work 4170 &&
	test_expect_code 1 fstrack backup --rsync-opt=--no-such-rsync-option mnt/src bk 2>err &&
	grep "rsync failed" err &&
	test "$(state_token bk)" = "$old" &&
	fstrack changes --since "$old" --json mnt/src >a.json &&
	backup mnt/src bk &&
	check_copy bk
'

test_expect_success $P 'backup --dry-run changes nothing and saves nothing' '
	cp bk/.fstrack-backup state.before &&
	fst-test-tool manifest mnt/src >m0 &&
	work 4180 &&
	fstrack backup --dry-run mnt/src bk >/dev/null &&
	test_cmp state.before bk/.fstrack-backup &&
	test_must_fail same_tree mnt/src bk >/dev/null &&
	fstrack changes --since "$(state_token bk)" --json mnt/src >a.json &&
	backup mnt/src bk &&
	check_copy bk
'

test_expect_success $P 'backup: a token the daemon cannot answer gives a full copy' '
	sed "s/^token fst1:[0-9a-f]*:/token fst1:0123456789abcdef0123456789abcdef:/" \
		bk/.fstrack-backup >forged &&
	mv forged bk/.fstrack-backup &&
	work 4190 &&
	backup mnt/src bk 2>err &&
	grep "making a full copy" err &&
	same_tree mnt/src bk &&
	! grep 0123456789abcdef0123456789abcdef bk/.fstrack-backup
'

test_expect_success $P 'backup: a state file of another source gives a full copy' '
	mkdir mnt/other &&
	echo o >mnt/other/o &&
	cp -a bk bk2 &&
	backup mnt/other bk2 2>err &&
	grep "belongs to a backup of $PWD/mnt/src" err &&
	same_tree mnt/other bk2 &&
	grep -x "source $PWD/mnt/other" bk2/.fstrack-backup
'

test_expect_success $P 'backup: a destination inside the source is refused' '
	test_expect_code 1 fstrack backup mnt/src mnt/src/inner 2>err &&
	grep "inside" err &&
	! test -e mnt/src/inner
'

test_expect_success $P 'backup: usage' '
	test_expect_code 2 fstrack backup mnt/src &&
	test_expect_code 2 fstrack backup --no-such-option mnt/src bk
'

# Unmount before sharness removes the trash directory (its rm -rf must not
# walk into the mount).
test_expect_success $P 'stop the daemon, unmount' '
	fst_daemon_stop &&
	umount "$PWD/mnt"
'

fst_done
