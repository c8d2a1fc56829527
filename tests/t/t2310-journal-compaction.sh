#!/bin/sh
test_description='compaction: a busy scope does not make a quiet one fresh

With a 1 MiB journal of 64 KiB segments, the oldest segments are folded
into a summary instead of being deleted. A token of a quiet scope that is
older than the detailed history gets a wider but honest answer, never
fresh, while a busy scope of the same filesystem renames its files by the
ten thousand: after a restart, after kill -9, and after a power loss
(FS_IOC_SHUTDOWN of the tracked and the state filesystem) too. A damaged
or removed summary, or a missing segment after it, makes the answer
fresh, never wrong. And the reproduction of issue 11: 150,000 create+unlink
pairs in the busy scope.'

. "$(dirname "$0")"/../lib/test-lib.sh

M=$PWD/mnt
A=$M/quiet
B=$M/busy

# churn DIR N: N renames among 500 files of DIR, a token of DIR every 2000
# (a new epoch: the same places are recorded again, the journal fills up)
churn() {
	/usr/bin/python3 - "$1" "$2" "$FSTRACK" <<-\EOF
	import os, subprocess, sys
	d, n, fstrack = sys.argv[1], int(sys.argv[2]), sys.argv[3]
	for i in range(500):
	    if not os.path.exists("%s/f%d" % (d, i)) and not os.path.exists("%s/g%d" % (d, i)):
	        open("%s/f%d" % (d, i), "w").close()
	for i in range(n):
	    k = i % 500
	    a, b = "%s/f%d" % (d, k), "%s/g%d" % (d, k)
	    if os.path.exists(a):
	        os.rename(a, b)
	    else:
	        os.rename(b, a)
	    if i % 2000 == 1999:
	        subprocess.run([fstrack, "token", d], stdout=subprocess.DEVNULL,
	                       stderr=subprocess.DEVNULL)
	EOF
}

# verify_line PATTERN: the journal checker (daemon stopped) finds it intact; its line for PATTERN
verify_line() {
	fst-journal-tool verify "$(fst_journal_dir)" >verify.out &&
	grep "$1" verify.out
}

# older_than_detail NAME: the token NAME.tok lies before the detailed history (in the summary)
older_than_detail() {
	seq=$(sed "s/.*://" $1.tok) &&
	first=$(sed -n "s/^summary:.* first_seq \([0-9]*\),.*/\1/p" verify.out) &&
	from=$(sed -n "s/^summary:.* answers from seq \([0-9]*\)$/\1/p" verify.out) &&
	fst_diag "$1: token seq $seq, summary from $from, detailed from $first" &&
	test "$seq" -lt "$first" && test "$seq" -ge "$from"
}

# quiet_changes NAME [DIR]: a token of the quiet scope, then three changes in it
quiet_changes() {
	q=${2:-$A} &&
	fst_gt_begin $1 "$q" &&
	echo more >>"$q/f1" && rm "$q/f2" && echo new >"$q/n-$1" &&
	touch "$q/f2"
}

test_expect_success ROOT,FANOTIFY,TMPFS 'a small journal; a quiet scope of 20 files, a busy one' '
	fst_mount_tmpfs "$M" &&
	mkdir -p "$A" "$B" &&
	for i in $(seq 20); do echo $i >"$A/f$i" || return 1; done &&
	fst_daemon_start --max-journal-bytes 1048576 --segment-bytes 65536 &&
	fstrack watch "$A" >/dev/null &&
	fstrack watch "$B" >/dev/null &&
	test_set_prereq READY
'

test_expect_success READY '80,000 renames in the busy scope: the quiet token is answered' '
	quiet_changes q &&
	churn "$B" 80000 &&
	fst_gt_check q "$A" &&
	fst_not_fresh q &&
	fst-test-tool answer q.json dump >q.dump &&
	fst_diag "q: $(wc -l <q.dump) paths" &&
	test $(wc -l <q.dump) -lt 30 &&
	fst_daemon_stop &&
	verify_line "^summary.fsj: seqs" &&
	older_than_detail q
'

test_expect_success READY '... and after a restart' '
	fst_daemon_start --max-journal-bytes 1048576 --segment-bytes 65536 &&
	fst_gt_check q "$A" &&
	fst_not_fresh q
'

test_expect_success READY 'status: the quiet token lies between the oldest widened and exact positions' '
	seq=$(sed "s/.*://" q.tok) &&
	exact=$(fst_scope_field "$A" oldest_exact_seq) &&
	widened=$(fst_scope_field "$A" oldest_widened_seq) &&
	widened_ns=$(fst_scope_field "$A" oldest_widened_ns) &&
	fst_diag "q: token seq $seq, oldest widened $widened, oldest exact $exact" &&
	test "$widened" -le "$seq" && test "$seq" -lt "$exact" &&
	test "$widened_ns" -gt 0 && test "$widened_ns" -le "$(date +%s%N)"
'

test_expect_success READY 'kill -9 while the busy scope folds history' '
	quiet_changes k &&
	for round in 1 2 3
	do
		churn "$B" 30000 &
		pid=$! &&
		sleep 1 &&
		fst_daemon_kill &&
		wait $pid &&
		fst_daemon_start --max-journal-bytes 1048576 --segment-bytes 65536 || return 1
	done &&
	churn "$B" 30000 &&
	fst_gt_check k "$A" &&
	fst_not_fresh k &&
	fst_daemon_stop &&
	verify_line "^summary.fsj: seqs" &&
	older_than_detail k &&
	fst_daemon_start --max-journal-bytes 1048576 --segment-bytes 65536
'

# damage_case NAME 'damage': a token in the summary, the damage while stopped; fresh, never wrong
damage_case() {
	quiet_changes $1 &&
	churn "$B" 40000 &&
	fst_daemon_stop &&
	verify_line "^summary.fsj: seqs" &&
	older_than_detail $1 &&
	eval "$2" &&
	fst_daemon_start --max-journal-bytes 1048576 --segment-bytes 65536 &&
	fst_gt_check $1 "$A" &&
	test "$(fst-test-tool answer $1.json fresh)" = true &&
	quiet_changes $1-after &&
	fst_gt_check $1-after "$A" &&
	fst_not_fresh $1-after
}

test_expect_success READY 'a byte flipped in the summary: ignored, the old token is fresh' '
	damage_case flip "
		s=\$(fst_journal_dir)/summary.fsj &&
		size=\$(stat -c %s \"\$s\") &&
		printf \"\\377\" | dd of=\"\$s\" bs=1 seek=\$((size - 5)) conv=notrunc 2>/dev/null &&
		test_must_fail fst-journal-tool verify \"\$(fst_journal_dir)\" >verify.out &&
		grep \"^summary.fsj: IGNORED\" verify.out
	"
'

test_expect_success READY 'the summary removed: the old token is fresh' '
	damage_case removed "
		rm \"\$(fst_journal_dir)\"/summary.fsj
	"
'

test_expect_success READY 'the segment right after the summary removed: the old token is fresh' '
	damage_case gap "
		first=\$(sed -n \"s/^summary:.* first_seq \\([0-9]*\\),.*/\\1/p\" verify.out) &&
		rm \"\$(fst_journal_dir)\"/\$(printf seg-%016x.fsj \$first) &&
		test_must_fail fst-journal-tool verify \"\$(fst_journal_dir)\" >verify.out &&
		grep \"^bad range\" verify.out
	"
'

# The issue's reproduction, with the churn in a scope: each pair removes an
# inode. Its object place must not reach the summary, or the summary goes
# WIDE (an object cannot be folded into a directory) and the quiet token
# answers fresh: the recorder writes no object record for an inode already
# gone, and the journal drops places whose handle went stale since
# (journal_options.handle_gone).
test_expect_success READY '150,000 create+unlink pairs in the busy scope: the quiet token is answered' '
	quiet_changes p &&
	fst_create_unlink "$B" 150000 &&
	fst_gt_check p "$A" &&
	fst_not_fresh p
'

test_expect_success ROOT,FANOTIFY,LOOP,EXT4,SHUTDOWN 'power loss while the busy scope folds history' '
	fst_daemon_stop &&
	fst_mount_image ext4 "$PWD/statefs" &&
	fst_mount_image ext4 "$PWD/disk" &&
	FST_STATE=$PWD/statefs/state &&
	mkdir -p "$PWD/disk/quiet" "$PWD/disk/busy" &&
	for i in $(seq 20); do echo $i >"$PWD/disk/quiet/f$i" || return 1; done &&
	fst_daemon_start --max-journal-bytes 1048576 --segment-bytes 65536 &&
	fstrack watch "$PWD/disk/quiet" >/dev/null &&
	fstrack watch "$PWD/disk/busy" >/dev/null &&
	sync &&
	quiet_changes pl "$PWD/disk/quiet" &&
	churn "$PWD/disk/busy" 40000 &&
	{ churn "$PWD/disk/busy" 40000 2>/dev/null & } &&
	pid=$! &&
	sleep 2 &&
	fst_daemon_kill &&
	fst-test-tool shutdown "$PWD/disk" &&
	fst-test-tool shutdown "$PWD/statefs" &&
	{ wait $pid || :; } &&
	fst_remount "$PWD/disk" &&
	fst_remount "$PWD/statefs" &&
	fst-journal-tool verify "$(fst_journal_dir)" >verify.out &&
	grep "^summary.fsj: seqs" verify.out &&
	older_than_detail pl &&
	fst_daemon_start --max-journal-bytes 1048576 --segment-bytes 65536 &&
	fst_gt_check pl "$PWD/disk/quiet" &&
	fst_not_fresh pl
'

fst_done
