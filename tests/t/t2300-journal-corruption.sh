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

segments() {
	ls "$(fst_journal_dir)" | grep "^seg-.*\.fsj\$"
}

# new_segments: the segments begun since segs-at-token was listed, in
# segs-new; prints how many
new_segments() {
	segments | comm -13 segs-at-token - >segs-new &&
	wc -l <segs-new
}

# more_segments N: operations until N segments were begun after the token.
# How many records 100 operations make varies (fanotify merges the events
# of a file while they wait in the queue), so count, in rounds of 20
# operations, each ended by a token (the daemon commits before it hands
# one out); at most 50 rounds.
more_segments() {
	test "$1" -gt 0 || return 0
	round=0
	while fstrack token "$S" >/dev/null && test "$(new_segments)" -lt $1
	do
		if test $round -ge 50
		then
			echo "only $(new_segments) segments begun after the token," \
				"$1 wanted, after $round more rounds of operations"
			return 1
		fi
		fst-test-tool workload --seed $seed --start $op --ops 20 --log ops.log "$S" &&
		op=$(($op + 20)) &&
		round=$(($round + 1)) || return 1
	done
	fstrack token "$S" >/dev/null
}

# After a damage case, passed or failed, the daemon runs for the next one.
restart_if_stopped() {
	test -n "$FST_DAEMON_PID" || fst_daemon_start $FST_DAEMON_ARGS
}

# damage_case NAME 'DAMAGE' [SEGMENTS]: a token, operations (100, and more
# until SEGMENTS segments were begun after the token), stop, DAMAGE, start,
# and the answer for the token covers every change or is a clear error.
# DAMAGE sees $seg (the newest segment) and its sizes $size_at_token and
# $size, and $mid_seg (the middle one of the segments begun after the
# token; with SEGMENTS >= 3 neither the first nor the newest).
damage_case() {
	fst_gt_begin $1 "$S" &&
	seg=$(newest_segment) &&
	size_at_token=$(stat -c %s "$seg") &&
	segments >segs-at-token &&
	fst-test-tool workload --seed $seed --start $op --ops 100 --log ops.log "$S" &&
	op=$(($op + 100)) &&
	more_segments ${3:-0} &&
	fst_daemon_stop &&
	test_when_finished restart_if_stopped &&
	seg=$(newest_segment) &&
	size=$(stat -c %s "$seg") &&
	n_new=$(new_segments) &&
	mid_seg=$(awk "{ a[NR] = \$0 } END { if (NR) print a[int((NR + 1) / 2)] }" segs-new) &&
	mid_seg=$(fst_journal_dir)/${mid_seg:-none} &&
	if test -n "$3" && { test $n_new -lt $3 || test "$mid_seg" = "$seg"; }
	then
		echo "$1: $n_new segments begun after the token, $3 wanted; middle $mid_seg"
		return 1
	fi &&
	eval "$2" &&
	fst_daemon_start $FST_DAEMON_ARGS &&
	fst_gt_check_or_error $1 "$S"
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
	fst_watch_new_fs tmpfs "$M" "$S" fst-test-tool workload --seed $seed --ops 150 "$S"
'

test_expect_success TMPFS_READY 'the journal checker finds an intact journal intact' '
	fst_daemon_stop &&
	fst-journal-tool verify "$(fst_journal_dir)" &&
	fst_daemon_start
'

test_expect_success TMPFS_READY 'bytes flipped in a record after the token' '
	damage_case flip "
		off=\$(( (size_at_token + size) / 2 )) &&
		printf \"\\377\\377\\377\\377\\377\\377\\377\\377\" |
			dd of=\"\$seg\" bs=1 seek=\$off conv=notrunc 2>/dev/null &&
		test_must_fail fst-journal-tool verify \"\$(fst_journal_dir)\" >verify.out
	"
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again flip'

test_expect_success TMPFS_READY 'one bit flipped in a record after the token' '
	damage_case bit "
		off=\$(( size - (size - size_at_token) / 3 )) &&
		b=\$(dd if=\"\$seg\" bs=1 skip=\$off count=1 2>/dev/null | od -An -tu1 | tr -d \" \") &&
		printf \"\\\\\$(printf %o \$(( (b ^ 4) & 255 )))\" |
			dd of=\"\$seg\" bs=1 seek=\$off conv=notrunc 2>/dev/null
	"
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again bit'

test_expect_success TMPFS_READY 'the newest segment cut in the middle of the records after the token' '
	damage_case cut "
		truncate -s \$(( (size_at_token + size) / 2 )) \"\$seg\"
	"
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again cut'

test_expect_success TMPFS_READY 'the newest segment cut back to its size at the token' '
	damage_case cut-to-token "
		truncate -s \$size_at_token \"\$seg\"
	"
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again cut-to-token'

test_expect_success TMPFS_READY 'a zeroed segment header' '
	damage_case header "
		dd if=/dev/zero of=\"\$seg\" bs=64 count=1 conv=notrunc 2>/dev/null
	"
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again header'

test_expect_success TMPFS_READY 'every segment removed' '
	damage_case removed "
		rm -f \"\$(fst_journal_dir)\"/seg-*.fsj
	"
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again removed'

test_expect_success TMPFS_READY 'a file of random bytes named like the next segment' '
	damage_case foreign "
		next=\$(fst_journal_dir)/seg-00000000ffffff00.fsj &&
		head -c 8192 /dev/urandom >\"\$next\"
	"
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again foreign'

test_expect_success TMPFS_READY 'the newest segment replaced by an older copy of itself' '
	mkdir -p other &&
	other_seg=$(newest_segment) &&
	cp "$other_seg" other/seg.copy &&
	damage_case copied "
		cp other/seg.copy \"\$seg\"
	"
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again copied'

test_expect_success TMPFS_READY 'bytes flipped in a record before the token' '
	damage_case before "
		printf \"\\377\\377\\377\\377\\377\\377\\377\\377\" |
			dd of=\"\$seg\" bs=1 seek=\$(( size_at_token / 2 )) conv=notrunc 2>/dev/null
	"
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again before'

test_expect_success TMPFS_READY 'small segments from now on (2 KiB)' '
	fst_daemon_stop &&
	FST_DAEMON_ARGS="--segment-bytes 2048" &&
	fst_daemon_start $FST_DAEMON_ARGS &&
	fst-test-tool workload --seed $seed --start $op --ops 50 "$S" &&
	op=$(($op + 50)) &&
	test $(segments | wc -l) -gt 2
'

test_expect_success TMPFS_READY 'bytes flipped in a middle segment after the token' '
	damage_case mid-flip "
		test -f \"\$mid_seg\" && test \"\$mid_seg\" != \"\$seg\" &&
		printf \"\\377\\377\\377\\377\\377\\377\\377\\377\" |
			dd of=\"\$mid_seg\" bs=1 seek=200 conv=notrunc 2>/dev/null
	" 3
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again mid-flip'

test_expect_success TMPFS_READY 'a middle segment after the token removed' '
	damage_case mid-gone "
		test -f \"\$mid_seg\" && test \"\$mid_seg\" != \"\$seg\" && rm \"\$mid_seg\"
	" 3
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again mid-gone'

test_expect_success TMPFS_READY 'a middle segment after the token cut short' '
	damage_case mid-cut "
		test -f \"\$mid_seg\" && test \"\$mid_seg\" != \"\$seg\" && truncate -s 700 \"\$mid_seg\"
	" 3
'
test_expect_success TMPFS_READY '... then new tokens work' 'works_again mid-cut'

test_expect_success TMPFS_READY 'the state directory wiped' '
	damage_case wiped "
		rm -rf \"\$FST_STATE\" && mkdir -p \"\$FST_STATE\"
	"
'

fst_done
