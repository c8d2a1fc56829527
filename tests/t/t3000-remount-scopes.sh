#!/bin/sh
test_description='a remount brings every scope of the filesystem back (issue 9, case 1)

ext4 on a loop device with three scopes b, a, c (in that order) and a token
for each. The filesystem is unmounted, each scope changed through another
mount point of the same device, and mounted back: every scope must be
caught up, so every old token covers its change and is not fresh. Before
the fix only the first scope reattached was scanned; the others answered
fresh: false with no changes.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/trust-lib.sh

# scope_state PATH: its state in status
scope_state() {
	fstrack status --json >st.json &&
	n=0 &&
	while p=$(fst-test-tool json st.json scopes $n path 2>/dev/null)
	do
		if test "$p" = "$1"
		then
			fst-test-tool json st.json scopes $n state
			return
		fi
		n=$(($n + 1))
	done
	echo "none"
}

is_state() {
	test "$(scope_state "$1")" = "$2"
}

test_expect_success ROOT,FANOTIFY,LOOP,EXT4 'ext4, scopes b, a, c, a token for each' '
	M=$PWD/ext4 && O=$PWD/other &&
	fst_mount_image ext4 "$M" &&
	mkdir "$O" &&
	DEV=$(findmnt -n -o SOURCE -M "$M") &&
	for s in b a c
	do
		mkdir -p "$M/$s/sub" && echo $s >"$M/$s/f" && echo $s >"$M/$s/sub/g" || return 1
	done &&
	fst_daemon_start &&
	for s in b a c
	do
		fstrack watch "$M/$s" >/dev/null || return 1
	done &&
	test_set_prereq READY
'

for round in 1 2
do
	test_expect_success READY "round $round: unmount, change each scope through another mount point, mount back" '
		for s in b a c
		do
			fst_gt_begin $s$round "$M/$s" || return 1
		done &&
		umount "$M" &&
		trust_wait_for 20 is_state "$M/a" missing &&
		is_state "$M/b" missing && is_state "$M/c" missing &&
		mount "$DEV" "$O" &&
		echo more >>"$O/b/f" &&
		echo new >"$O/a/sub/new$round" &&
		mv "$O/c/sub" "$O/c/sub$round" && mkdir "$O/c/sub" "$O/c/d$round" &&
		umount "$O" &&
		mount "$DEV" "$M" &&
		for s in b a c
		do
			trust_wait_for 30 is_state "$M/$s" active || return 1
		done
	'

	for s in b a c
	do
		test_expect_success READY "round $round: scope $s: the old token covers its change, not fresh" '
			fst_gt_check $s$round "$M/$s" &&
			fst_not_fresh $s$round &&
			test "$(fst-test-tool answer $s$round.json count)" -gt 0
		'
	done
done

test_expect_success READY 'after the remounts, live changes are exact again' '
	for s in b a c
	do
		fst_gt_begin live-$s "$M/$s" || return 1
	done &&
	echo live >"$M/b/live" && echo live >"$M/a/live" && echo live >"$M/c/live" &&
	for s in b a c
	do
		fst_gt_check live-$s "$M/$s" &&
		fst-test-tool has live-$s.json live created || return 1
	done
'

fst_done
