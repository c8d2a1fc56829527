#!/bin/sh
test_description='Node'"'"'s fb-watchman (npm) against fstrackd'"'"'s Watchman socket

fb-watchman, the client of Jest and Metro, installed from npm into the
build directory on first use: capabilities, watch-project, a clock, a
subscription with the kind of query jest-haste-map makes, pushes for a
created and a deleted file, queries, state-enter/leave as unilateral
PDUs. It finds the socket through WATCHMAN_SOCK, and through
"watchman get-sockname" (the watchman command) without it.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/watchman-lib.sh

P=ROOT,TMPFS,FANOTIFY,FB_WATCHMAN

test_expect_success $P 'setup: a project and the daemon' '
	fst_mount_tmpfs "$PWD/mnt" &&
	mkdir -p mnt/proj/.git mnt/proj/src mnt/proj/lib &&
	echo a >mnt/proj/src/a.js && echo l >mnt/proj/lib/l.js &&
	fst_daemon_start &&
	fst_diag "fb-watchman $(sed -n "s/.*\"version\": \"\(.*\)\".*/\1/p" \
		"$FST_NODE_DIR/node_modules/fb-watchman/package.json"), node $(node --version)"
'

test_expect_success $P 'fb-watchman with WATCHMAN_SOCK' '
	WATCHMAN_SOCK=$FST_WSOCK node "$FST_SRC_DIR/tests/helper/fb-watchman-check.js" \
		"$FST_NODE_DIR/node_modules" "$PWD/mnt/proj" >out 2>&1 || { cat out; false; }
'

test_expect_success $P 'fb-watchman finding the socket with the watchman command' '
	wm_wrapper bin &&
	rm -f mnt/proj/src/ignored.txt &&
	(unset WATCHMAN_SOCK; PATH=$PWD/bin:$PATH node "$FST_SRC_DIR/tests/helper/fb-watchman-check.js" \
		"$FST_NODE_DIR/node_modules" "$PWD/mnt/proj") >out 2>&1 || { cat out; false; }
'

fst_done
