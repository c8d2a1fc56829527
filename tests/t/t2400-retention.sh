#!/bin/sh
test_description='retention: other directories'"'"' writes do not push a scope'"'"'s history out

The journal keeps only what some scope can ask about. With a 1 MiB
journal of 64 KiB segments, a token of a scope stays exact while 150,000
files are created and removed in another directory of the same
filesystem. What a scope still needs is kept: a change through a hard
link whose other name is in the scope, a directory moved in from
outside. A watched directory that is gone is dropped after the grace
period; one whose filesystem is unmounted is kept.

The daemon runs with an unlimited kernel queue: the counts asserted here
are the scope filter'"'"'s, and an overflow (a loaded machine, a small
max_queued_events left by another run) makes the filter forget its
verdicts by design (t2120), which would count records the filter did
not cause.'

. "$(dirname "$0")"/../lib/test-lib.sh

M=$PWD/mnt
S=$M/scope

# field NAME: a filesystem counter of status for the filesystem at $M
field() {
	fstrack status --json >status.json &&
	fst-test-tool json status.json filesystems "*" mount >mounts &&
	fst-test-tool json status.json filesystems "*" "$1" >values &&
	paste mounts values | awk -v m="$M" -F "\t" '$1 == m { print $2 }'
}

test_expect_success ROOT,FANOTIFY,TMPFS 'a small journal; a scope with 20 files' '
	fst_mount_tmpfs "$M" &&
	mkdir -p "$S" "$M/other" &&
	for i in $(seq 20); do echo $i >"$S/f$i" || return 1; done &&
	fst_daemon_start --max-journal-bytes 1048576 --segment-bytes 65536 \
		--vanished-grace-s 1 --unlimited-queue &&
	fstrack watch "$S" >/dev/null &&
	test_set_prereq READY
'

test_expect_success READY '150,000 create+unlink pairs elsewhere: the old token is exact' '
	fst_gt_begin keep "$S" &&
	t_keep=$(date +%s%N) &&
	echo more >>"$S/f1" && rm "$S/f2" && echo new >"$S/n" &&
	fst_create_unlink "$M/other" 150000 &&
	fst_gt_check keep "$S" &&
	fst_not_fresh keep &&
	exact_seq=$(fst_scope_field "$S" oldest_exact_seq) &&
	exact_ns=$(fst_scope_field "$S" oldest_exact_ns) &&
	fst_diag "oldest exact token: seq $exact_seq, $(( ($t_keep - $exact_ns) / 1000000 )) ms before keep" &&
	test "$exact_seq" -le "$(sed "s/.*://" keep.tok)" &&
	test "$exact_ns" -gt 0 && test "$exact_ns" -le "$t_keep" &&
	dropped=$(field notes_outside_scopes) &&
	written=$(field records_written) &&
	fst_diag "notes dropped as outside every scope: $dropped, records written: $written" &&
	test "$dropped" -gt 100000 &&
	test "$written" -lt 20000
'

test_expect_success READY 'a change through a hard link whose other name is in the scope' '
	echo a >"$S/linked" &&
	ln "$S/linked" "$M/other/outside-name" &&
	fst_gt_begin link "$S" &&
	echo b >>"$M/other/outside-name" &&
	fst_gt_check link "$S" &&
	fst_not_fresh link
'

test_expect_success READY 'a directory moved in from outside: renamed_to, recursive' '
	mkdir -p "$M/other/tree/sub" && echo x >"$M/other/tree/sub/f" &&
	fst_gt_begin movein "$S" &&
	mv "$M/other/tree" "$S/tree" &&
	echo y >"$S/tree/sub/g" &&
	fst_gt_check movein "$S" &&
	fst-test-tool answer movein.json dump >movein.dump &&
	grep "^tree renamed_to,recursive$" movein.dump
'

test_expect_success READY 'a new directory outside is outside too, and its churn is dropped' '
	before=$(field records_written) &&
	mkdir -p "$M/other/new/deeper" &&
	fst_create_unlink "$M/other/new/deeper" 20000 &&
	fstrack token "$S" >/dev/null &&
	after=$(field records_written) &&
	fst_diag "records for 20,000 pairs in a new outside directory: $(($after - $before))" &&
	test $(($after - $before)) -lt 2000
'

test_expect_success READY 'files placed by link and unlink outside every scope (as git writes objects) cost no records' '
	before=$(field records_written) &&
	/usr/bin/python3 - "$M/other" <<-\EOF &&
	import os, sys
	d = sys.argv[1]
	for i in range(3000):
	    tmp, final = "%s/tmp_%d" % (d, i), "%s/obj_%d" % (d, i)
	    with open(tmp, "w") as f:
	        f.write("blob %d" % i)
	    os.link(tmp, final)
	    os.unlink(tmp)
	EOF
	fstrack token "$S" >/dev/null &&
	after=$(field records_written) &&
	fst_diag "records for 3,000 link+unlink placements outside: $(($after - $before))" &&
	test $(($after - $before)) -lt 300
'

test_expect_success READY '... while one placed into the scope the same way is found' '
	fst_gt_begin place "$S" &&
	echo placed >"$M/other/tmp_in" &&
	ln "$M/other/tmp_in" "$S/placed" &&
	rm "$M/other/tmp_in" &&
	fst_gt_check place "$S" &&
	fst_not_fresh place
'

test_expect_success READY 'a watched directory that is gone is dropped after the grace period' '
	mkdir "$M/gone" &&
	fstrack watch "$M/gone" >/dev/null &&
	rmdir "$M/gone" &&
	n=0 &&
	while fstrack status --json | grep -q "\"$M/gone\""
	do
		n=$(($n + 1)) && test $n -lt 400 || return 1
		sleep 0.1
	done &&
	fstrack status --json | grep -q "\"$S\""
'

test_expect_success ROOT,FANOTIFY,LOOP,EXT4 'a scope whose filesystem is unmounted is kept' '
	fst_mount_image ext4 "$PWD/disk" &&
	mkdir disk/s &&
	fstrack watch "$PWD/disk/s" >/dev/null &&
	umount "$PWD/disk" &&
	sleep 3 &&
	fstrack status --json >st.json &&
	grep -q "\"$PWD/disk/s\"" st.json &&
	fst-test-tool json st.json scopes "*" state | grep -qx missing
'

fst_done
