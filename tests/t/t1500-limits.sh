#!/bin/sh
test_description='limits written down in README are what the daemon does

Each test here pins one documented limit, so a change of behaviour (better
or worse) shows up: inode flags set with chattr (FS_IOC_SETFLAGS) produce no
fanotify event, so a live answer does not name them; the catch-up scan after
a gap does, because the ctime moved.'

. "$(dirname "$0")"/../lib/test-lib.sh

fst_lazy_prereq CHATTR 'command -v chattr >/dev/null'

fst_fs_vars ext4

two_files() {
	echo data >"$S/f" && echo other >"$S/g"
}

test_expect_success $fs_prereq 'ext4 image, daemon, watch' '
	fst_watch_new_fs ext4 "$M" "$S" two_files
'

test_expect_success $P,CHATTR 'LIMIT: chattr +A is not reported live (the kernel sends no event)' '
	tok=$(fstrack token "$S") &&
	fst-test-tool manifest "$S" >m0 &&
	chattr +A "$S/f" &&
	fst-test-tool manifest "$S" >m1 &&
	! cmp -s m0 m1 &&
	fst_changes "$tok" "$S" live.json &&
	! fst-test-tool covers live.json f >/dev/null
'

test_expect_success $P,CHATTR '... a catch-up scan after a restart covers it' '
	fst_daemon_stop &&
	chattr +A "$S/g" &&
	fst_daemon_start &&
	fst-test-tool manifest "$S" >m2 &&
	fst_changes "$tok" "$S" after.json &&
	fst-test-tool covers after.json g >/dev/null &&
	test "$(fst-test-tool answer after.json fresh)" = false
'

test_expect_success $P 'stop the daemon; no sanitizer reports' '
	fst_daemon_stop &&
	fst_check_sanitizer
'

fst_done
