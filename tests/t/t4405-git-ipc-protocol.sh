#!/bin/sh
test_description='fstrack git-daemon: the daemon side of git'\''s fsmonitor IPC, without git 2.55

The tests that run git itself over fstrackd'\''s socket (t4400, t4410,
t4420) need a git >= 2.55. These need none: "fstrack git-daemon enable
--force" works with an older git (only "git rev-parse" and "git config"
are run), and a pkt-line client of the test speaks git'\''s protocol on
.git/fsmonitor--daemon.ipc as git does. Every answer is checked against
the ground truth, the manifests of the work tree before and after, the
way git uses it (fst-test-tool gitcheck): every changed file is named or
below a "d/", and every directory where a name came or went has its
listing re-read. The first answer ("/", a marked token, then every
listing re-read), random work loads, a long answer in many packets,
"flush", tokens that are not fstrackd'\''s, probes and broken requests,
who is answered (the owner and root; a user'\''s own repository), a clean
restart, kill -9, an overflow of the kernel queue, "quit", disable, and
the errors of the command.'

. "$(dirname "$0")"/../lib/test-lib.sh

. "$FST_SRC_DIR"/tests/lib/git-lib.sh
. "$FST_SRC_DIR"/tests/lib/git-ipc-lib.sh

# GIT: any git ("git rev-parse --path-format", git 2.31 and later)
P=ROOT,TMPFS,FANOTIFY,PYTHON3,GIT

T=$SHARNESS_TRASH_DIRECTORY
SOCK=$T/mnt/repo/.git/fsmonitor--daemon.ipc
# As t4410: a catch-up margin the tests wait out before a restart (a
# directory of the top changed within it is "entries" of the top: "/" for
# git); for the overflow, a bounded kernel queue (the daemon's own).
DAEMON_ARGS="--margin-ms 500"
QUEUE=256

start() {
	fst_daemon_start $DAEMON_ARGS &&
	ipc_wait_listening repo
}

# ask NAME REQUEST: the answer to REQUEST in NAME (NULs as newlines; the
# first line is the token) and its bytes in NAME.raw.
ask() {
	IPC_RAW=$T/$1.raw ipc_query "$SOCK" "$2" >"$1" || {
		echo "$1: no answer to \"$2\""
		return 1
	}
}

# Ground truth around a step, as fst_gt_begin and fst_gt_check, for git:
#	gt_begin NAME TOKEN     the manifest of the work tree now (NAME.m0)
#	...                     anything
#	gt_check NAME [--all-listings]
#	                        the manifest after (NAME.m1), the answer since
#	                        TOKEN (NAME, NAME.raw), which must cover every
#	                        change the way git uses it (NAME.check)
#	precise NAME            the answer was not "/"
#	token_of NAME           the token git keeps from the answer
gt_begin() {
	printf "%s\n" "$2" >"$1.since" &&
	fst-test-tool manifest mnt/repo >"$1.m0"
}

gt_check() {
	fst-test-tool manifest mnt/repo >"$1.m1" &&
	ask "$1" "$(cat "$1.since")" &&
	if ! fst-test-tool gitcheck --before "$1.m0" --after "$1.m1" --answer "$1.raw" $2 \
		>"$1.check" 2>&1
	then
		echo "$1: the answer since $(cat "$1.since") misses what git needs:"
		cat "$1.check"
		echo "the answer (first 100 lines):"
		head -n 100 "$1"
		return 1
	fi
}

precise() {
	if sed -n 2p "$1" | grep -qx /
	then
		echo "$1: the answer was \"/\""
		return 1
	fi
}

token_of() {
	head -n 1 "$1"
}

# marked_token TOKEN [PREVIOUS]: TOKEN is a token of fstrackd marked for an
# untracked rescan, and not older than PREVIOUS (a token of the same
# filesystem): the position now, not one git had.
marked_token() {
	echo "$1" | grep -q "^fst1:[0-9a-f]*:[0-9]*+untracked-rescan\$" || return 1
	test -n "$2" || return 0
	fst__prev=${2%+untracked-rescan}
	fst__seq=${1%+untracked-rescan} &&
	test "$(echo "$fst__seq" | cut -d: -f1,2)" = "$(echo "$fst__prev" | cut -d: -f1,2)" &&
	test "$(echo "$fst__seq" | cut -d: -f3)" -ge "$(echo "$fst__prev" | cut -d: -f3)"
}

# everything NAME [PREVIOUS]: the answer NAME is "/" alone, with a marked
# token (see marked_token).
everything() {
	test "$(sed -n 2p "$1")" = / &&
	test "$(wc -l <"$1")" = 2 &&
	marked_token "$(token_of "$1")" "$2" || {
		echo "$1: not \"/\" with a marked token of now${2:+ (the one before: $2)}:"
		cat "$1"
		return 1
	}
}

# ipc_as UID SOCKET REQUEST: ipc_query as user (and group) UID
ipc_as() {
	(
		IPC_AS="setpriv --reuid=$1 --regid=$1 --clear-groups" &&
		shift &&
		ipc_query "$@"
	)
}

test_expect_success $P 'setup: a repository on a tmpfs, enabled with --force' '
	fst_mount_tmpfs "$PWD/mnt" &&
	fst_daemon_start $DAEMON_ARGS &&
	git init -q mnt/repo &&
	ln -s mnt/repo repo &&
	mkdir repo/w repo/storm &&
	work 4405 150 &&
	mkdir -p repo/a/b &&
	echo t >repo/a/t1 && echo t >repo/a/b/t2 &&
	for d in "tab$(printf "\t")dir" "back\\slash" "$(printf "new\nline")" " lead" "x:y"
	do
		mkdir "repo/a/$d" && echo t >"repo/a/$d/t3" && mkdir "repo/a/$d/sub" &&
		echo u >"repo/a/$d/sub/t4" || return 1
	done &&
	g add -A && g commit -q -m init &&
	g config core.untrackedCache true &&
	ipc_enable --force
'

test_expect_success $P 'the first answer: "/" with a marked token; then every listing re-read' '
	ask first builtin:fake &&
	everything first &&
	gt_begin marked "$(token_of first)" &&
	work 4406 30 &&
	gt_check marked --all-listings &&
	precise marked &&
	token_of marked | grep "^fst1:[0-9a-f]*:[0-9]*\$" &&
	cat marked.check
'

test_expect_success $P 'precise answers that cover every change, after each of 12 work loads' '
	tok=$(token_of marked) &&
	i=1 &&
	while test $i -le 12
	do
		gt_begin round$i "$tok" &&
		work $((4410 + $i)) $((10 + 5 * $i)) &&
		gt_check round$i &&
		precise round$i &&
		tok=$(token_of round$i) || return 1
		if test $(($i % 4)) = 0
		then
			g add -A && g commit -q -m r$i || return 1
		fi
		i=$(($i + 1))
	done &&
	fst_diag "round 12: $(tail -n 1 round12.check)"
'

test_expect_success $P 'nothing changed: no path; the same token asked again: the same paths' '
	gt_begin quiet "$(token_of round12)" &&
	gt_check quiet &&
	test "$(wc -l <quiet)" = 1 &&
	ask again "$(token_of round11)" &&
	tail -n +2 round12 | sort >want &&
	tail -n +2 again | sort >got &&
	test_cmp want got
'

test_expect_success $P 'the check can fail: the answer without the path of a new file misses it' '
	gt_begin direct "$(token_of quiet)" &&
	echo changed >repo/w/direct &&
	gt_check direct &&
	grep -x w/direct direct &&
	"$FST_PYTHON" -c "
import sys
parts = open(sys.argv[1], \"rb\").read().split(b\"\\0\")
open(sys.argv[2], \"wb\").write(b\"\\0\".join(p for p in parts if p != b\"w/direct\"))
" direct.raw without.raw &&
	test_expect_code 1 fst-test-tool gitcheck --before direct.m0 --after direct.m1 \
		--answer without.raw >out &&
	grep "FALSE NEGATIVE: w/direct (created): its index entry is not re-checked" out &&
	grep "FALSE NEGATIVE: w/direct (created): the listing of w is not re-read" out
'

# More than 65516 bytes of paths: the answer comes in several packets.
test_expect_success $P 'a long answer in many packets' '
	gt_begin long "$(token_of direct)" &&
	many_files &&
	IPC_PACKETS=$T/packets gt_check long &&
	test "$(cat "$T/packets")" -ge 2 &&
	test "$(grep -c "^many/a-rather" long)" = 1500
'

test_expect_success $P '"flush" and tokens that are not fstrackd'\''s: "/" with a new marked token' '
	tok=$(token_of long) &&
	ask flush flush &&
	everything flush "$tok" &&
	uuid=$(echo "$tok" | sed "s/^fst1:\\([0-9a-f]*\\):.*/\\1/") &&
	other=$(echo "$uuid" | tr 0-9a-f 1-9a-f0) &&
	n=0 &&
	for req in builtin:fake "builtin:1700000000:7" 1700000000000000000 \
		"fst1:$other:5" "fst1:$uuid" "fst1:zz:1" "fst1:$uuid:x" "" flushx
	do
		ask other$n "$req" &&
		everything other$n "$tok" || return 1
		n=$(($n + 1))
	done &&
	gt_begin after-flush "$(token_of flush)" &&
	work 4430 &&
	gt_check after-flush --all-listings &&
	precise after-flush
'

test_expect_success $P 'probes and broken requests: no answer, and the next one answered' '
	before=$(fstrack git-daemon status --json repo | sed -n "s/.*\"answers\":\\([0-9]*\\).*/\\1/p") &&
	"$FST_PYTHON" -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close()
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b\"0020half a packet\"); s.close()
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b\"zzzznot a pkt-line0000\")
sys.exit(3 if s.recv(100) else 0)
" "$SOCK" &&
	gt_begin probe "$(token_of after-flush)" &&
	echo x >repo/w/probed &&
	gt_check probe &&
	grep -x w/probed probe &&
	after=$(fstrack git-daemon status --json repo | sed -n "s/.*\"answers\":\\([0-9]*\\).*/\\1/p") &&
	test "$after" = $(($before + 1))
'

# The socket is 0600; with it opened up, the daemon still answers nobody
# but its owner and root (SO_PEERCRED).
test_expect_success $P,SETPRIV 'only the owner and root are answered' '
	chmod 666 "$SOCK" &&
	test_when_finished "chmod 600 \"$SOCK\"" &&
	test_expect_code 1 ipc_as 65534 "$SOCK" builtin:fake >refused 2>err &&
	test ! -s refused &&
	grep "the daemon hung up without an answer" err &&
	grep "uid 65534 is neither its owner (uid 0) nor root; not answered" "$FST_DAEMON_LOG" &&
	ask root builtin:fake &&
	everything root
'

# A user'\''s repository: the socket is theirs, the user and root are
# answered, another user is not; the answers are made with the user'\''s
# rights (root makes the changes, with modes of every kind, then hands
# them to the user).
test_expect_success $P,SETPRIV 'a user'\''s own repository: their socket, their answers' '
	mkdir mnt/user mnt/user-home &&
	chown 65534:65534 mnt/user mnt/user-home &&
	usock=$T/mnt/user/repo/.git/fsmonitor--daemon.ipc &&
	as_user git init -q repo &&
	as_user mkdir repo/w &&
	user_work 4440 60 &&
	as_user git -C repo add -A &&
	as_user git -C repo -c user.name=u -c user.email=u@u commit -q -m files &&
	as_user fstrack git-daemon enable --force repo &&
	test "$(stat -c "%a %u" "$usock")" = "600 65534" &&
	IPC_RAW=$T/mnt/user-home/ufirst.raw ipc_as 65534 "$usock" builtin:fake >ufirst &&
	everything ufirst &&
	tok=$(token_of ufirst) &&
	i=0 &&
	while test $i -lt 4
	do
		fst-test-tool manifest mnt/user/repo >user$i.m0 &&
		user_work $((4441 + $i)) &&
		fst-test-tool manifest mnt/user/repo >user$i.m1 &&
		IPC_RAW=$T/mnt/user-home/user$i.raw ipc_as 65534 "$usock" "$tok" >user$i &&
		fst-test-tool gitcheck --before user$i.m0 --after user$i.m1 \
			--answer mnt/user-home/user$i.raw \
			$(test $i = 0 && echo --all-listings) >user$i.check &&
		precise user$i &&
		tok=$(token_of user$i) || { cat user$i.check; return 1; }
		i=$(($i + 1))
	done &&
	IPC_RAW=$T/uroot.raw ipc_query "$usock" "$tok" >uroot &&
	test "$(wc -l <uroot)" = 1 &&
	chmod 666 "$usock" &&
	test_expect_code 1 ipc_as 65533 "$usock" "$tok" >uother 2>err &&
	chmod 600 "$usock" &&
	grep "the daemon hung up without an answer" err &&
	grep "uid 65533 is neither its owner (uid 65534) nor root" "$FST_DAEMON_LOG" &&
	as_user fstrack git-daemon list >list &&
	grep "listening.*mnt/user/repo" list &&
	! grep "mnt/repo\$" list &&
	as_user fstrack git-daemon disable repo &&
	test ! -e "$usock"
'

test_expect_success $P 'a clean stop: the socket goes; changes while down; back: precise' '
	gt_begin stop "$(token_of probe)" &&
	sleep 1 &&
	fst_daemon_stop &&
	test ! -e "$SOCK" &&
	work 4450 30 &&
	start &&
	grep "answering git.s fsmonitor requests" "$FST_DAEMON_LOG" &&
	gt_check stop &&
	precise stop
'

test_expect_success $P 'kill -9: the socket stays; changes while down; back: precise' '
	gt_begin kill "$(token_of stop)" &&
	sleep 1 &&
	fst_daemon_kill &&
	test -S "$SOCK" &&
	work 4451 30 &&
	start &&
	gt_check kill &&
	precise kill &&
	gt_begin kill-live "$(token_of kill)" &&
	work 4452 &&
	gt_check kill-live &&
	precise kill-live
'

test_expect_success $P 'an overflow of the kernel queue: the token holds, the answer covers' '
	gt_begin overflow "$(token_of kill-live)" &&
	sleep 1 &&
	fst_daemon_stop &&
	DAEMON_ARGS="$DAEMON_ARGS --queue-events $QUEUE" start &&
	overflow_storm 4453 &&
	gt_check overflow &&
	precise overflow &&
	overflow_counted
'

# "quit" is what "git fsmonitor--daemon stop" sends: an empty answer, and
# fstrackd stops answering for the work tree. Enabled again, the token
# git kept still holds.
test_expect_success $P '"quit": an empty answer, no more answers; enabled again, the token holds' '
	gt_begin quit "$(token_of overflow)" &&
	IPC_PACKETS=$T/packets ask quit-answer quit &&
	test ! -s quit-answer &&
	test "$(cat "$T/packets")" = 0 &&
	test_expect_code 1 fstrack git-daemon status repo &&
	test ! -e "$SOCK" &&
	grep "no longer answering for .*git asked it to stop" "$FST_DAEMON_LOG" &&
	test "$(g config core.fsmonitor)" = true &&
	work 4454 &&
	fstrack git-daemon enable --force repo &&
	gt_check quit &&
	precise quit
'

test_expect_success $P 'disable: core.fsmonitor unset, the socket gone, nobody answers' '
	ipc_disable &&
	test_must_fail ipc_query "$SOCK" "$(token_of quit)" 2>err &&
	grep "cannot connect to $SOCK: No such file or directory" err
'

test_expect_success $P 'errors: not a repository, an older git without --force, unknown actions' '
	mkdir mnt/plain &&
	test_expect_code 1 fstrack git-daemon enable --force mnt/plain 2>err &&
	grep "not in the work tree of a git repository" err &&
	mkdir old-git &&
	printf "#!/bin/sh\nif test \"\$1\" = version; then echo \"git version 2.39.5\"; exit 0; fi\nexec \"%s\" \"\$@\"\n" \
		"$(command -v git)" >old-git/git &&
	chmod +x old-git/git &&
	test_expect_code 1 env PATH="$PWD/old-git:$PATH" fstrack git-daemon enable repo 2>err &&
	grep "git version 2.39.5 talks to an fsmonitor daemon on Linux from git 2.55 on" err &&
	test_must_fail g config core.fsmonitor &&
	test_expect_code 1 fstrack git-daemon status repo &&
	test_expect_code 2 fstrack git-daemon frobnicate 2>err &&
	grep "no action" err &&
	test_expect_code 2 fstrack git-daemon 2>err &&
	fstrack help git-daemon | grep "usage: fstrack .*git-daemon enable"
'

# Unmount before sharness removes the trash directory (its rm -rf must not
# walk into the mount).
test_expect_success $P 'stop the daemon, unmount' '
	fst_daemon_stop &&
	umount "$PWD/mnt"
'

fst_done
