#!/bin/sh
test_description='a damaged journal never gives a wrong complete answer

With the daemon stopped, the journal is damaged after a token was issued:
bytes flipped inside records, a truncated segment, a zeroed header, the
segments removed, a foreign file named like a segment. The daemon must
start, and the answer for the token must cover every change (fresh is the
expected way out) or be a clear error; never a crash, never an answer that
misses a change. New tokens work again afterwards.'

. "$(dirname "$0")"/../lib/test-lib.sh

M=$PWD/mnt
S=$M/scope
seed=2300
op=151

newest_segment() {
	jd=$(fst_journal_dir) || return 1
	ls "$jd"/seg-*.fsj | tail -n 1
}

# damage_case NAME 'damage': token, operations, stop, damage, start, check
damage_case() {
	fst_gt_begin $1 "$S" &&
	seg=$(newest_segment) &&
	size_at_token=$(stat -c %s "$seg") &&
	ls "$(fst_journal_dir)" | grep "^seg-.*\.fsj\$" >segs-at-token &&
	fst-test-tool workload --seed $seed --start $op --ops 100 --log ops.log "$S" &&
	op=$(($op + 100)) &&
	fst_daemon_stop &&
	seg=$(newest_segment) &&
	size=$(stat -c %s "$seg") &&
	# the segments begun after the token, the middle one of them
	ls "$(fst_journal_dir)" | grep "^seg-.*\.fsj\$" | comm -13 segs-at-token - >segs-new &&
	mid_seg=$(awk "{ a[NR] = \$0 } END { if (NR) print a[int((NR + 1) / 2)] }" segs-new) &&
	mid_seg=$(fst_journal_dir)/${mid_seg:-none} &&
	eval "$2" &&
	fst_daemon_start $FST_DAEMON_ARGS &&
	fst-test-tool manifest "$S" >$1.m1 &&
	if fstrack changes --since "$(cat $1.tok)" --json "$S" >$1.json 2>$1.err
	then
		fst_check_answer $1.m0 $1.m1 $1.json "$1" &&
		fst_diag "$1: fresh=$(fst-test-tool answer $1.json fresh)"
	else
		test $? = 1 && test "$(wc -l <$1.err)" = 1 &&
		fst_diag "$1: an error: $(cat $1.err)"
	fi
}

# ... and the daemon works again: a new token, exact answers.
works_again() {
	fst_gt_begin $1-after "$S" &&
	fst-test-tool workload --seed $seed --start $op --ops 30 "$S" &&
	op=$(($op + 30)) &&
	fst_gt_check $1-after "$S" &&
	fst_not_fresh $1-after
}

test_expect_success ROOT,FANOTIFY,TMPFS 'setup: a tree on a tmpfs, watched' '
	fst_mount_tmpfs "$M" &&
	mkdir -p "$S" &&
	fst-test-tool workload --seed $seed --ops 150 "$S" &&
	fst_daemon_start &&
	fstrack watch "$S" >/dev/null &&
	test_set_prereq READY
'

test_expect_success READY 'the journal checker finds an intact journal intact' '
	fst_daemon_stop &&
	fst-journal-tool verify "$(fst_journal_dir)" &&
	fst_daemon_start
'

test_expect_success READY 'bytes flipped in a record after the token' '
	damage_case flip "
		off=\$(( (size_at_token + size) / 2 )) &&
		printf \"\\377\\377\\377\\377\\377\\377\\377\\377\" |
			dd of=\"\$seg\" bs=1 seek=\$off conv=notrunc 2>/dev/null &&
		test_must_fail fst-journal-tool verify \"\$(fst_journal_dir)\" >verify.out
	"
'
test_expect_success READY '... then new tokens work' 'works_again flip'

test_expect_success READY 'one bit flipped in a record after the token' '
	damage_case bit "
		off=\$(( size - (size - size_at_token) / 3 )) &&
		b=\$(dd if=\"\$seg\" bs=1 skip=\$off count=1 2>/dev/null | od -An -tu1 | tr -d \" \") &&
		printf \"\\\\\$(printf %o \$(( (b ^ 4) & 255 )))\" |
			dd of=\"\$seg\" bs=1 seek=\$off conv=notrunc 2>/dev/null
	"
'
test_expect_success READY '... then new tokens work' 'works_again bit'

test_expect_success READY 'the newest segment cut in the middle of the records after the token' '
	damage_case cut "
		truncate -s \$(( (size_at_token + size) / 2 )) \"\$seg\"
	"
'
test_expect_success READY '... then new tokens work' 'works_again cut'

test_expect_success READY 'the newest segment cut back to its size at the token' '
	damage_case cut-to-token "
		truncate -s \$size_at_token \"\$seg\"
	"
'
test_expect_success READY '... then new tokens work' 'works_again cut-to-token'

test_expect_success READY 'a zeroed segment header' '
	damage_case header "
		dd if=/dev/zero of=\"\$seg\" bs=64 count=1 conv=notrunc 2>/dev/null
	"
'
test_expect_success READY '... then new tokens work' 'works_again header'

test_expect_success READY 'every segment removed' '
	damage_case removed "
		rm -f \"\$(fst_journal_dir)\"/seg-*.fsj
	"
'
test_expect_success READY '... then new tokens work' 'works_again removed'

test_expect_success READY 'a file of random bytes named like the next segment' '
	damage_case foreign "
		next=\$(fst_journal_dir)/seg-00000000ffffff00.fsj &&
		head -c 8192 /dev/urandom >\"\$next\"
	"
'
test_expect_success READY '... then new tokens work' 'works_again foreign'

test_expect_success READY 'the newest segment replaced by an older copy of itself' '
	mkdir -p other &&
	other_seg=$(newest_segment) &&
	cp "$other_seg" other/seg.copy &&
	damage_case copied "
		cp other/seg.copy \"\$seg\"
	"
'
test_expect_success READY '... then new tokens work' 'works_again copied'

test_expect_success READY 'bytes flipped in a record before the token' '
	damage_case before "
		printf \"\\377\\377\\377\\377\\377\\377\\377\\377\" |
			dd of=\"\$seg\" bs=1 seek=\$(( size_at_token / 2 )) conv=notrunc 2>/dev/null
	"
'
test_expect_success READY '... then new tokens work' 'works_again before'

test_expect_success READY 'small segments from now on (2 KiB)' '
	fst_daemon_stop &&
	FST_DAEMON_ARGS="--segment-bytes 2048" &&
	fst_daemon_start $FST_DAEMON_ARGS &&
	fst-test-tool workload --seed $seed --start $op --ops 50 "$S" &&
	op=$(($op + 50)) &&
	test $(ls "$(fst_journal_dir)" | grep -c "^seg-") -gt 2
'

test_expect_success READY 'bytes flipped in a middle segment after the token' '
	damage_case mid-flip "
		test -f \"\$mid_seg\" && test \"\$mid_seg\" != \"\$seg\" &&
		printf \"\\377\\377\\377\\377\\377\\377\\377\\377\" |
			dd of=\"\$mid_seg\" bs=1 seek=200 conv=notrunc 2>/dev/null
	"
'
test_expect_success READY '... then new tokens work' 'works_again mid-flip'

test_expect_success READY 'a middle segment after the token removed' '
	damage_case mid-gone "
		test -f \"\$mid_seg\" && test \"\$mid_seg\" != \"\$seg\" && rm \"\$mid_seg\"
	"
'
test_expect_success READY '... then new tokens work' 'works_again mid-gone'

test_expect_success READY 'a middle segment after the token cut short' '
	damage_case mid-cut "
		test -f \"\$mid_seg\" && test \"\$mid_seg\" != \"\$seg\" && truncate -s 700 \"\$mid_seg\"
	"
'
test_expect_success READY '... then new tokens work' 'works_again mid-cut'

test_expect_success READY 'the state directory wiped' '
	damage_case wiped "
		rm -rf \"\$FST_STATE\" && mkdir -p \"\$FST_STATE\"
	"
'

fst_done
