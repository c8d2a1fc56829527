# Shared by the git IPC tests (t44xx: fstrackd answering git's builtin
# fsmonitor protocol); sourced after test-lib.sh and git-lib.sh.
#
# They need a git that talks to an fsmonitor daemon on Linux, 2.55 or
# later: $FST_TEST_GIT, else the git on PATH when it is new enough. The
# test suite never builds git; without one the tests are skipped and say
# why (prerequisite GIT255). The git found is put
# first in PATH (as a link named git in the trash directory), so that
# plain "git" and same_status use it.

fst__git_new_enough() {
	fst__v=$("$1" version 2>/dev/null) || return 1
	fst__v=${fst__v#git version }
	fst__major=${fst__v%%.*}
	fst__minor=${fst__v#*.}
	fst__minor=${fst__minor%%.*}
	case "$fst__major$fst__minor" in
	*[!0-9]* | "") return 1 ;;
	esac
	test "$fst__major" -gt 2 || { test "$fst__major" = 2 && test "$fst__minor" -ge 55; }
}

FST_GIT=
FST_GIT_WHY=
if test -n "$FST_TEST_GIT"; then
	if fst__git_new_enough "$FST_TEST_GIT"; then
		FST_GIT=$FST_TEST_GIT
	else
		FST_GIT_WHY="FST_TEST_GIT=$FST_TEST_GIT is not a git >= 2.55 ($("$FST_TEST_GIT" version 2>&1 | head -n 1))"
	fi
elif command -v git >/dev/null && fst__git_new_enough git; then
	FST_GIT=$(command -v git)
else
	FST_GIT_WHY="no git >= 2.55 (git's Linux fsmonitor daemon protocol): the git on PATH is '$(git version 2>/dev/null || echo missing)' and FST_TEST_GIT is not set; the tests do not build git"
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

# ipc_query SOCKET REQUEST: speak git's simple IPC as git does (the request
# as pkt-lines and a flush; the answer up to a flush) and print the answer
# with its NULs as newlines. Fails when the daemon hangs up without an
# answer. With IPC_PACKETS=FILE, the number of data packets goes there.
ipc_query() {
	"$FST_PYTHON" - "$1" "$2" "${IPC_PACKETS:-/dev/null}" <<-\EOF
	import socket, sys
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[1])
	m = sys.argv[2].encode()
	s.sendall(b"%04x" % (len(m) + 4) + m + b"0000")
	buf, answer, packets = b"", b"", 0
	while True:
	    while len(buf) < 4 or (int(buf[:4], 16) > 4 and len(buf) < int(buf[:4], 16)):
	        more = s.recv(65536)
	        if not more:
	            sys.exit("the daemon hung up without an answer")
	        buf += more
	    n = int(buf[:4], 16)
	    if n == 0:
	        break
	    answer += buf[4:n]
	    packets += 1
	    buf = buf[n:]
	sys.stdout.buffer.write(answer.replace(b"\0", b"\n"))
	open(sys.argv[3], "w").write("%d\n" % packets)
	EOF
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
