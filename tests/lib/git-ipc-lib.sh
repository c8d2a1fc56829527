# Shared by the git IPC tests (t44xx: fstrackd answering git's builtin
# fsmonitor protocol); sourced after test-lib.sh and git-lib.sh.
#
# They need a git that talks to an fsmonitor daemon on Linux, 2.55 or
# later: $FST_TEST_GIT, else the git on PATH when it is new enough, else the
# one tools/build-git built from Debian's source in $FST_TOOL_BUILD/git
# (make check runs it first, for the plain build, which tests/run-all makes
# FST_TOOL_BUILD). tools/build-git --find decides which; without one the
# tests are skipped and say why (prerequisite GIT255), the build's failure
# included. The git found is put first in PATH (as a link named git in the
# trash directory), so that plain "git" and same_status use it.

FST_GIT=
FST_GIT_WHY=
if fst__out=$("$FST_SRC_DIR"/tools/build-git --for tests --find "$FST_TOOL_BUILD"); then
	FST_GIT=$fst__out
else
	FST_GIT_WHY="$fst__out (t4405 tests the daemon side without it)"
fi
if test -n "$FST_GIT"; then
	mkdir -p "$SHARNESS_TRASH_DIRECTORY/git-bin" &&
	ln -sf "$FST_GIT" "$SHARNESS_TRASH_DIRECTORY/git-bin/git" &&
	PATH=$SHARNESS_TRASH_DIRECTORY/git-bin:$PATH &&
	export PATH
	fst_diag "git for the IPC tests: $FST_GIT ($(git version))"
fi

fst_lazy_prereq GIT255 '
	test -n "$FST_GIT" || { echo "$FST_GIT_WHY"; exit 1; }
'

fst_lazy_prereq SETPRIV '
	command -v setpriv >/dev/null || { echo "setpriv (util-linux) not found"; exit 1; }
	setpriv --reuid=65534 --regid=65534 --clear-groups true
'

# The system's python3 (one that other users may run too), else any.
FST_PYTHON=/usr/bin/python3
test -x "$FST_PYTHON" || FST_PYTHON=$(command -v python3)
fst_lazy_prereq PYTHON3 '
	test -n "$FST_PYTHON" || { echo "python3 is not installed"; exit 1; }
'

# What the t44xx scripts share, run in the trash directory, where ./repo
# links to the work tree (mnt/repo, a tmpfs) and a user's repository is
# mnt/user/repo:
#	g ARGS...              git in ./repo, with an author
#	work SEED [OPS]        a work load (fst-test-tool workload) in repo/w
#	overflows              the overflows fstrackd's status counts (one filesystem)
#	overflow_storm SEED    with fstrackd stopped (SIGSTOP), 2,000 files made and
#	                       removed in repo/storm and a work load of 60 in repo/w:
#	                       its kernel queue, bounded (--queue-events), overflows
#	overflow_counted       status counts more overflows than before overflow_storm
#	many_files             1,500 new files of long names in repo/many: an answer
#	                       of more than 65516 bytes, more than one packet
#	ipc_enable [--force]   enable ./repo, checked: the message, core.fsmonitor,
#	                       the socket (root's, 0600), listening, the work tree watched
#	ipc_disable            disable ./repo, checked: the message, core.fsmonitor
#	                       unset, the socket gone, not listening, and disabling
#	                       again is an error
#	as_user CMD...         CMD in mnt/user as uid and gid 65534, HOME mnt/user-home
#	user_work SEED [OPS]   a work load in mnt/user/repo/w, made by root with
#	                       modes of every kind, then handed to the user
g() {
	(cd repo && git -c user.name=t -c user.email=t@t "$@")
}

work() {
	fst-test-tool workload --seed "$1" --ops "${2:-20}" repo/w >/dev/null
}

overflows() {
	fstrack status --json >"$SHARNESS_TRASH_DIRECTORY/status.json" &&
	fst-test-tool json "$SHARNESS_TRASH_DIRECTORY/status.json" filesystems "*" overflows
}

overflow_storm() {
	fst__overflows_before=$(overflows) &&
	kill -STOP "$FST_DAEMON_PID" || return 1
	fst-test-tool storm repo/storm 2000 &&
	work "$1" 60
	fst__rc=$?
	kill -CONT "$FST_DAEMON_PID" && return $fst__rc
}

overflow_counted() {
	fst__overflows_after=$(overflows) &&
	if test "$fst__overflows_after" -le "$fst__overflows_before"
	then
		echo "status counts no overflow ($fst__overflows_before, then $fst__overflows_after)"
		return 1
	fi
}

many_files() {
	mkdir repo/many &&
	fst__i=0 &&
	while test $fst__i -lt 1500
	do
		: >repo/many/a-rather-long-file-name-so-that-the-answer-is-long-$fst__i || return 1
		fst__i=$(($fst__i + 1))
	done
}

ipc_enable() {
	fstrack git-daemon enable "$@" repo >out &&
	grep "fstrackd answers git.s fsmonitor requests for $(cd repo && pwd -P)" out &&
	test "$(g config core.fsmonitor)" = true &&
	test -S repo/.git/fsmonitor--daemon.ipc &&
	test "$(stat -c "%a %u" repo/.git/fsmonitor--daemon.ipc)" = "600 0" &&
	fstrack git-daemon status repo >st &&
	grep "^state: *listening" st &&
	fstrack status --json >status.json &&
	fst-test-tool json status.json scopes "*" path | grep -x "$(cd repo && pwd -P)"
}

ipc_disable() {
	fstrack git-daemon disable repo >out &&
	grep "no longer answers git" out &&
	test_must_fail g config core.fsmonitor &&
	test ! -e repo/.git/fsmonitor--daemon.ipc &&
	test_expect_code 1 fstrack git-daemon status repo &&
	test_expect_code 1 fstrack git-daemon disable repo 2>err &&
	grep "does not answer git for" err
}

as_user() {
	(cd "$SHARNESS_TRASH_DIRECTORY/mnt/user" &&
		HOME=$SHARNESS_TRASH_DIRECTORY/mnt/user-home setpriv --reuid=65534 --regid=65534 \
			--clear-groups "$@")
}

user_work() {
	fst-test-tool workload --seed "$1" --ops "${2:-30}" mnt/user/repo/w >/dev/null &&
	chown -R 65534:65534 mnt/user/repo/w &&
	chmod -R u+rwX mnt/user/repo/w
}

# ipc_query SOCKET REQUEST: speak git's simple IPC as git does (the request
# as pkt-lines and a flush; the answer up to a flush) and print the answer
# with its NULs as newlines. Fails, saying "the daemon hung up without an
# answer", when the daemon closes the connection (or resets it) before the
# flush. With IPC_PACKETS=FILE, the number of data packets goes there; with
# IPC_RAW=FILE, the answer's bytes as they came (for fst-test-tool
# gitcheck); with IPC_AS="setpriv ...", the client runs under that command.
ipc_query() {
	$IPC_AS "$FST_PYTHON" -c "$fst__ipc_client" "$1" "$2" "${IPC_PACKETS:-/dev/null}" \
		"${IPC_RAW:-/dev/null}"
}

# (It connects from the socket's directory, as git does: a path in the
# trash directory may be longer than a socket address can be.)
fst__ipc_client='
import os, socket, sys
def hung_up():
    sys.exit("the daemon hung up without an answer")
packets_file, raw_file = os.path.abspath(sys.argv[3]), os.path.abspath(sys.argv[4])
s = socket.socket(socket.AF_UNIX)
try:
    os.chdir(os.path.dirname(sys.argv[1]) or ".")
    s.connect(os.path.basename(sys.argv[1]))
except OSError as e:
    sys.exit("cannot connect to %s: %s" % (sys.argv[1], e.strerror))
m = sys.argv[2].encode()
buf, answer, packets = b"", b"", 0
try:
    s.sendall(b"%04x" % (len(m) + 4) + m + b"0000")
    while True:
        while len(buf) < 4 or (int(buf[:4], 16) > 4 and len(buf) < int(buf[:4], 16)):
            more = s.recv(65536)
            if not more:
                hung_up()
            buf += more
        n = int(buf[:4], 16)
        if n == 0:
            break
        answer += buf[4:n]
        packets += 1
        buf = buf[n:]
except (ConnectionResetError, BrokenPipeError):
    hung_up()
sys.stdout.buffer.write(answer.replace(b"\0", b"\n"))
open(packets_file, "w").write("%d\n" % packets)
open(raw_file, "wb").write(answer)
'

# ipc_wait_listening DIR: wait (up to 10 s) until fstrackd listens on the
# socket of the work tree DIR (again: after a start of the daemon).
ipc_wait_listening() {
	fst__n=0 &&
	until fstrack git-daemon status "$1" >/dev/null
	do
		test $fst__n -lt 100 || { fstrack git-daemon status "$1"; return 1; }
		sleep 0.1
		fst__n=$(($fst__n + 1))
	done
}

# ipc_status STEP: same_status (git-lib.sh), and the git that used
# fstrackd asked over the socket and got an answer, and started no
# fsmonitor daemon of its own (its trace2 events: $T/ipc-trace.json).
ipc_status() {
	rm -f "$SHARNESS_TRASH_DIRECTORY/ipc-trace.json" &&
	GIT_TRACE2_EVENT=$SHARNESS_TRASH_DIRECTORY/ipc-trace.json same_status "$1" &&
	ipc_used "$SHARNESS_TRASH_DIRECTORY/ipc-trace.json" "$1"
}

# ipc_used TRACE STEP: in the trace2 events TRACE, git got fstrackd's
# answer on the socket and did not start a daemon of its own.
ipc_used() {
	grep -q '"key":"query/response-length"' "$1" || {
		echo "$2: git did not get an answer over the socket"
		return 1
	}
	if grep -q 'fsmonitor--daemon' "$1"; then
		echo "$2: git started its own fsmonitor daemon:"
		grep 'fsmonitor--daemon' "$1" | head -n 3
		return 1
	fi
}

# ipc_trivial TRACE: the answer in the trace2 events TRACE was "/".
ipc_trivial() {
	grep -q '"key":"query/trivial-response"' "$1"
}
