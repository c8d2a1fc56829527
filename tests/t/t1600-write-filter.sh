#!/bin/sh
test_description='the kernel-side "already recorded" filter never hides a write after a token

After a file'"'"'s writes are on record in an epoch, fstrackd asks the kernel
to drop its further FAN_MODIFY/FAN_CLOSE_WRITE events (evictable inode
ignore marks), and flushes every such mark before it hands out a token.
fst-hammer makes writers hammer files (appends, rewrites, truncations)
while it takes tokens in a loop: every write that began after a token came
back and ended before the next request was sent must be in the answer
since that token. Over 10,000 token boundaries, on tmpfs and ext4, and
with the marks evicted by memory pressure (drop_caches in a loop). The
run must have used marks, or it proves nothing.'

. "$(dirname "$0")"/../lib/test-lib.sh

FST_HAMMER=$FST_TOOL_BUILD/fst-hammer

# hammer NAME ARGS...: run fst-hammer on the scope, check it used marks
hammer() {
	name=$1
	shift
	"$FST_HAMMER" --socket "$FST_SOCK" "$@" >$name.out 2>$name.err
	rc=$?
	cat $name.out $name.err
	test $rc = 0 || return 1
	fst_diag "$name: $(cat $name.out)"
	marks=$(sed -n "s/.*ignore_marks_added \([0-9]*\).*/\1/p" $name.out) &&
	test "$marks" -gt 0 || {
		echo "$name: no ignore mark was used: the run proves nothing"
		return 1
	}
}

test_expect_success ROOT,FANOTIFY 'start the daemon' '
	fst_daemon_start
'

test_expect_success ROOT,FANOTIFY,TMPFS 'tmpfs: 6,000 token boundaries, mixed writes' '
	fst_watch_new_fs tmpfs "$PWD/tmp" "$PWD/tmp/s" &&
	hammer tmpfs-mixed --dir "$PWD/tmp/s" --files 24 --writers 2 --mode mixed \
		--boundaries 6000
'

test_expect_success ROOT,FANOTIFY,LOOP,EXT4 'ext4: 3,000 boundaries of appends' '
	fst_watch_new_fs ext4 "$PWD/ext4" "$PWD/ext4/s" &&
	hammer ext4-append --dir "$PWD/ext4/s" --files 16 --writers 2 --mode append \
		--boundaries 3000
'

test_expect_success ROOT,FANOTIFY,LOOP,EXT4 'ext4: 3,000 boundaries of rewrites, marks evicted by drop_caches' '
	mkdir ext4/r &&
	fstrack watch "$PWD/ext4/r" >/dev/null &&
	{ ( while :; do echo 2 >/proc/sys/vm/drop_caches; sleep 0.02; done ) & } &&
	dropper=$! &&
	test_when_finished "kill $dropper; wait $dropper; :" &&
	hammer ext4-evicted --dir "$PWD/ext4/r" --files 16 --writers 2 --mode rewrite \
		--boundaries 3000
'

test_expect_success ROOT,FANOTIFY 'the marks are counted and bounded in status' '
	fstrack status --json >status.json &&
	fst-test-tool json status.json filesystems "*" ignore_marks_added >added &&
	fst-test-tool json status.json filesystems "*" ignore_mark_flushes >flushes &&
	test "$(sort -n added | tail -n 1)" -gt 0 &&
	test "$(sort -n flushes | tail -n 1)" -gt 0
'

fst_done
