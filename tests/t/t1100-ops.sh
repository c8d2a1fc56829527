#!/bin/sh
test_description='every kind of operation, alone, is reported

On tmpfs, ext4, xfs and btrfs (images made here), each operation is done
by itself between a token and "changes --json": the answer must list the
path with the expected kind, and cover every path whose manifest line
changed (the coverage rule of docs/design.md).'

. "$(dirname "$0")"/../lib/test-lib.sh

# The token and the manifest before an operation (op.tok, op.m0).
op_begin() {
	fst_gt_begin op "$S"
}

# The manifest after, the answer (op.json), the coverage rule.
op_end() {
	fst_gt_check op "$S"
}

# listed PATH [KIND...]: the answer lists PATH (with every KIND)
listed() {
	fst-test-tool has op.json "$@"
}

# covered PATH: the answer covers PATH (itself, its parent's entries, ...)
covered() {
	fst-test-tool covers op.json "$1" >/dev/null
}

# The tree each filesystem starts with, and names outside the watched directory.
make_tree() {
	mkdir -p "$S/d1" "$S/d2" "$S/tree/a/b" &&
	echo hello >"$S/f" &&
	echo world >"$S/g" &&
	echo x >"$S/d1/x" &&
	echo y >"$S/d1/y" &&
	echo z >"$S/d2/z" &&
	echo c >"$S/tree/a/b/c" &&
	echo outside >"$M/outside" &&
	mkdir "$M/outdir" &&
	echo w >"$M/outdir/w"
}

# op_test TITLE OPERATION CHECKS: one operation on the current filesystem
op_test() {
	test_expect_success "$P" "$fs: $1" "
		op_begin &&
		$2 &&
		op_end &&
		$3
	"
}

test_expect_success ROOT,FANOTIFY 'start the daemon' '
	fst_daemon_start
'

for fs in tmpfs ext4 xfs btrfs
do
	fst_fs_vars $fs

	test_expect_success $fs_prereq "$fs: mount, make a tree, watch" '
		fst_watch_new_fs $fs "$M" "$S" make_tree
	'

	op_test 'create a file' \
		'echo new >"$S/created"' \
		'listed created created'
	op_test 'mkdir' \
		'mkdir "$S/newdir"' \
		'listed newdir created'
	op_test 'create a file in a subdirectory' \
		'echo new >"$S/d2/new"' \
		'listed d2/new created && covered d2'
	op_test 'overwrite part of a file' \
		'printf XY | dd of="$S/f" bs=1 seek=1 conv=notrunc 2>/dev/null' \
		'listed f modified'
	op_test 'append' \
		'echo more >>"$S/g"' \
		'listed g modified'
	op_test 'truncate' \
		'truncate -s 2 "$S/g"' \
		'listed g modified'
	op_test 'open with O_TRUNC and write' \
		'echo rewritten >"$S/g"' \
		'listed g modified'
	op_test 'chmod' \
		'chmod 600 "$S/f"' \
		'listed f attrib'
	op_test 'chown' \
		'chown 1000:1001 "$S/f"' \
		'listed f attrib'
	op_test 'chgrp alone' \
		'chgrp 1002 "$S/f"' \
		'listed f attrib'
	op_test 'utimes (both times)' \
		'touch -d "2001-02-03 04:05:06" "$S/f"' \
		'listed f attrib'
	op_test 'utimes (mtime alone)' \
		'touch -m -d "2002-02-03 04:05:06" "$S/f"' \
		'listed f'
	op_test 'setxattr' \
		'setfattr -n user.k -v v1 "$S/f"' \
		'listed f attrib'
	op_test 'setxattr again, another value' \
		'setfattr -n user.k -v v2 "$S/f"' \
		'listed f attrib'
	op_test 'removexattr' \
		'setfattr -x user.k "$S/f"' \
		'listed f attrib'
	op_test 'chmod of a directory' \
		'chmod 700 "$S/d2"' \
		'listed d2 attrib'
	op_test 'chmod of the watched directory itself' \
		'chmod 750 "$S"' \
		'listed . attrib'
	op_test 'rename a file in its directory' \
		'mv "$S/d1/x" "$S/d1/x2"' \
		'listed d1/x renamed_from && listed d1/x2 renamed_to'
	op_test 'rename a file to another directory' \
		'mv "$S/d1/y" "$S/d2/y"' \
		'listed d1/y renamed_from && listed d2/y renamed_to'
	op_test 'rename a file over an existing one' \
		'mv "$S/d2/y" "$S/d2/z"' \
		'listed d2/y renamed_from && listed d2/z renamed_to'
	op_test 'rename a directory in its directory' \
		'mv "$S/tree" "$S/tree2"' \
		'listed tree renamed_from && listed tree2 renamed_to &&
		 covered tree/a/b/c && covered tree2/a/b/c'
	op_test 'rename a directory to another directory' \
		'mv "$S/tree2" "$S/d1/tree3"' \
		'listed tree2 renamed_from && listed d1/tree3 renamed_to &&
		 covered d1/tree3/a/b/c'
	op_test 'rename a directory over an empty one' \
		'mkdir "$S/empty" && echo c >"$S/newdir/child" && op_begin &&
		 mv -T "$S/newdir" "$S/empty"' \
		'listed newdir renamed_from && listed empty renamed_to && covered empty/child'
	op_test 'unlink' \
		'rm "$S/g"' \
		'listed g deleted'
	op_test 'hard link' \
		'ln "$S/f" "$S/f.link"' \
		'listed f.link created'
	op_test 'write through a hard link' \
		'echo via-link >>"$S/f.link"' \
		'listed f.link modified'
	op_test 'unlink one of two hard links' \
		'rm "$S/f.link"' \
		'listed f.link deleted'
	op_test 'symlink' \
		'ln -s f "$S/sym"' \
		'listed sym created'
	op_test 'chown of a symlink itself' \
		'chown -h 1000 "$S/sym"' \
		'listed sym attrib'
	op_test 'rmdir of an empty directory' \
		'rm "$S/empty/child" && op_begin && rmdir "$S/empty"' \
		'listed empty deleted'
	op_test 'rm -rf of a tree' \
		'rm -rf "$S/d1"' \
		'listed d1 deleted && covered d1/tree3/a/b/c'
	op_test 'a name with a newline, a space and a non-UTF-8 byte' \
		'touch "$S/new
line" "$S/sp ace" "$S/bad$(printf "\\377")"' \
		'listed "new
line" created && listed "sp ace" created && listed "bad$(printf "\\377")" created'
	op_test 'move a file in from outside the watched directory' \
		'mv "$M/outside" "$S/inside"' \
		'listed inside'
	op_test 'move a tree in from outside' \
		'mv "$M/outdir" "$S/indir"' \
		'listed indir && covered indir/w'
	op_test 'move a tree out' \
		'mv "$S/d2" "$M/d2out"' \
		'listed d2 && covered d2/z'
	op_test 'a change outside the watched directory' \
		'echo x >>"$M/d2out/z"' \
		'test "$(fst-test-tool answer op.json count)" = 0'
	op_test 'delete a file and create it again' \
		'rm "$S/f" && echo again >"$S/f"' \
		'listed f'
	op_test 'several operations on one file' \
		'echo 1 >"$S/multi" && chmod 640 "$S/multi" && mv "$S/multi" "$S/multi2" &&
		 echo 2 >>"$S/multi2"' \
		'listed multi2'

	op_test 'write through splice(2)' \
		'echo 0123456789 >"$S/spl" && op_begin && fst-test-tool splice-write "$S/spl" 2 AB' \
		'listed spl modified'
	op_test 'copy_file_range(2) over a file' \
		'echo 0123456789 >"$S/cfr" && echo abcdefghij >"$M/src" && op_begin &&
		 fst-test-tool copy-range "$M/src" "$S/cfr"' \
		'listed cfr modified'
	op_test 'write through a shared mapping made before the token, fd closed' \
		'echo 0123456789 >"$S/map" && rm -f ctl mapped && mkfifo ctl &&
		 { fst-test-tool mmap-write --close-first --wait "$S/map" 3 XY <ctl >mapped & } &&
		 exec 9>ctl &&
		 while ! grep mapped mapped >/dev/null 2>&1; do sleep 0.05; done &&
		 op_begin && echo go >&9 && exec 9>&- && wait $!' \
		'listed map'

	# A hard link whose other name is outside the watched directory: the
	# change is made through the outside name, the inside name changes.
	op_test 'write through a hard link outside the watched directory' \
		'echo in >"$S/hl" && ln "$S/hl" "$M/hl-out" && op_begin && echo more >>"$M/hl-out"' \
		'listed hl'
	op_test 'chmod through a hard link outside the watched directory' \
		'chmod 640 "$M/hl-out"' \
		'listed hl'
	op_test 'a new outside name for an inside file (link count)' \
		'ln "$M/hl-out" "$M/hl-out2"' \
		'listed hl'
	op_test 'an outside name removed (link count)' \
		'rm "$M/hl-out" "$M/hl-out2"' \
		'listed hl'
	# A name made for an object is a new file's unless the object is on
	# record: here the link's own link-count change comes first, and the
	# write through the new name must reach the inside name as a write.
	op_test 'an inside file linked from outside and written through the new link' \
		'echo in >"$S/ly" && op_begin && ln "$S/ly" "$M/ly-out" && echo more >>"$M/ly-out"' \
		'listed ly modified'
	op_test 'a new file linked from outside and written through that link' \
		'echo a >"$S/nl" && ln "$S/nl" "$M/nl-out" && echo b >>"$M/nl-out"' \
		'listed nl created'

	# A file with two names is changed through one of them, whose directory
	# is removed before the daemon reads the events (it is stopped here),
	# and the other name is not in the dentry cache (dropped here; the token
	# after SIGCONT makes the daemon read the events before the manifest
	# looks the name up again). When the events are read the link count is
	# already 1 and the kernel cannot name the file: the name left must
	# still be in the answer (the object is recorded for a change of its
	# link count, and found by inode at query time). Before that rule t1200
	# missed such a file now and then on a busy machine. tmpfs keeps its
	# dentries, so only the disk filesystems can lose the name.
	case $fs in
	ext4 | xfs)
		op_test 'a change through a name removed with its directory, read late' \
			'echo one >"$S/hl-stay" && mkdir -p "$S/hl-dir/c" &&
			 ln "$S/hl-stay" "$S/hl-dir/c/h" &&
			 op_begin &&
			 kill -STOP $FST_DAEMON_PID &&
			 test_when_finished "kill -CONT $FST_DAEMON_PID" &&
			 echo two >"$S/hl-dir/c/h" &&
			 rm -r "$S/hl-dir" &&
			 echo 2 >/proc/sys/vm/drop_caches &&
			 kill -CONT $FST_DAEMON_PID &&
			 fstrack token "$S" >/dev/null' \
			'covered hl-stay'
		;;
	esac

	test_expect_success "$P" "$fs: unwatch; the filesystem can be unmounted at once, 20 times" '
		fstrack unwatch "$S" &&
		umount "$M" &&
		dev=$(losetup -j "$SHARNESS_TRASH_DIRECTORY/images/"*".$fs.img" 2>/dev/null | cut -d: -f1 | head -n 1) &&
		for i in $(seq 20)
		do
			if test -n "$dev"
			then
				mount "$dev" "$M" || return 1
			else
				mount -t tmpfs -o size=16m fst-test "$M" || return 1
			fi
			mkdir -p "$S" &&
			fstrack watch "$S" >/dev/null &&
			fstrack unwatch "$S" &&
			umount "$M" || return 1
		done
	'
done

fst_done
