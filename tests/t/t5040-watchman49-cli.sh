#!/bin/sh
test_description='the Watchman 4.9 command line (Debian watchman) with --sockname at fstrackd

Watchman'"'"'s own command line, pointed at fstrack'"'"'s socket through a proxy
that logs what it sends: BSER v1 by default, JSON with
--server-encoding=json, roots made real paths. Its answers, exit codes
and answer keys are compared with fstrack-watchman'"'"'s for the same
commands; persistent subscriptions print pushes.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/watchman-lib.sh

P=ROOT,TMPFS,FANOTIFY,PYWATCHMAN,WATCHMAN49
T=$SHARNESS_TRASH_DIRECTORY
PROXY=$T/proxy.sock
PLOG=$T/proxy.log

# Watchman 4.9: its state files in the trash directory, never a server of its own
wm49() {
	TMPDIR=$T HOME=$T USER=root /usr/bin/watchman --sockname "$PROXY" --no-spawn --no-local \
		--logfile "$T/wm49.log" --statefile "$T/wm49.state" "$@"
}

# the last command the proxy saw, as JSON, and its encoding
last_sent() {
	tail -n 1 "$PLOG" | fst-test-tool json - "$@"
}

# The proxy in the background (only it: "a && b &" would put a, the
# daemon, in a background subshell too); killed at exit like a daemon.
start_proxy() {
	"$PY" "$FST_SRC_DIR/tests/helper/pdu-proxy.py" "$PROXY" "$FST_WSOCK" "$PLOG" &
	fst__register "daemon $!"
	for i in $(seq 100); do test -S "$PROXY" && break; sleep 0.1; done
	test -S "$PROXY"
}

test_expect_success $P 'setup: a project, the daemon, the logging proxy' '
	fst_mount_tmpfs "$PWD/mnt" &&
	mkdir -p mnt/proj/.hg mnt/proj/src mnt/plain &&
	echo a >mnt/proj/src/a.c &&
	fst_daemon_start &&
	start_proxy &&
	test -n "$FST_DAEMON_PID" &&
	fst_diag "$(TMPDIR=$T HOME=$T /usr/bin/watchman --version | sed "s/^/watchman /")"
'

test_expect_success $P 'version: BSER v1 on the wire, JSON printed' '
	wm49 version >v &&
	test "$(wm_json v version)" = 4.9.0 &&
	test "$(last_sent encoding)" = bser &&
	test "$(last_sent command 0)" = version
'

test_expect_success $P 'watch-project of a relative path: the root is made real first' '
	(cd mnt/proj/src && wm49 watch-project .) >wp &&
	test "$(last_sent command 1)" = "$PWD/mnt/proj/src" &&
	test "$(wm_json wp watch)" = "$PWD/mnt/proj" &&
	test "$(wm_json wp relative_path)" = src
'

test_expect_success $P 'clock, since, find, query -j (BSER), query -j --server-encoding=json' '
	R=$PWD/mnt/proj &&
	c=$(wm49 clock "$R" | fst-test-tool json - clock) &&
	echo b >mnt/proj/src/b.c &&
	wm49 since "$R" "$c" >s &&
	test "$(wm_json s is_fresh_instance)" = false &&
	fst-test-tool json s files "*" name >sn &&
	grep -x src/b.c sn &&
	wm49 find "$R" "**/*.c" >f &&
	fst-test-tool json f files "*" name | sort >fn &&
	printf "src/a.c\nsrc/b.c\n" >expect && test_cmp expect fn &&
	echo "[\"query\", \"$R\", {\"since\": \"$c\", \"fields\": [\"name\"]}]" | wm49 -j --no-pretty >q &&
	test "$(last_sent encoding)" = bser &&
	test "$(wc -l <q)" = 1 &&
	fst-test-tool json q files "*" | grep -x src/b.c &&
	echo "[\"query\", \"$R\", {\"since\": \"$c\", \"fields\": [\"name\"]}]" |
		wm49 -j --no-pretty --server-encoding=json >qj &&
	test "$(last_sent encoding)" = json &&
	"$PY" -c "import json, sys; assert json.load(open(\"q\")) == json.load(open(\"qj\"))"
'

test_expect_success $P 'a persistent subscription prints its pushes' '
	R=$PWD/mnt/proj &&
	c=$(wm49 clock "$R" | fst-test-tool json - clock) &&
	(echo "[\"subscribe\", \"$R\", \"s\", {\"since\": \"$c\", \"fields\": [\"name\"]}]" |
		timeout 8 env TMPDIR="$T" HOME="$T" USER=root /usr/bin/watchman --sockname "$PROXY" \
			--no-spawn --no-local --logfile "$T/wm49.log" --no-pretty -p -j >subs &) &&
	for i in $(seq 50); do grep -q "\"subscribe\"" subs 2>/dev/null && break; sleep 0.1; done &&
	echo p >mnt/proj/src/pushed.c &&
	for i in $(seq 100); do grep -q pushed.c subs && break; sleep 0.1; done &&
	grep "\"subscription\":\"s\"" subs | grep -q "src/pushed.c"
'

# Both command lines, the same command: the same exit status and the same keys.
same_as_49() {
	wm49 --no-pretty "$@" >out49; rc49=$?
	wm --no-pretty "$@" >outfst; rcfst=$?
	test "$rc49" = "$rcfst" || { echo "$*: exit $rc49 (4.9) vs $rcfst"; cat out49 outfst; return 1; }
	for f in out49 outfst
	do
		"$PY" -c "import json, sys; print(sorted(json.loads(open(sys.argv[1]).readline())))" $f >$f.keys ||
			return 1
	done
	test_cmp out49.keys outfst.keys || { echo "$*: keys differ"; cat out49 outfst; return 1; }
}

test_expect_success $P 'fstrack-watchman exits and answers as Watchman 4.9 does' '
	R=$PWD/mnt/proj &&
	same_as_49 version &&
	same_as_49 watch-list &&
	same_as_49 clock "$R" &&
	same_as_49 clock "$PWD/mnt/plain" &&
	same_as_49 clock "$PWD/mnt/no-such-dir" &&
	same_as_49 query "$R" &&
	same_as_49 find "$R" "*.c" &&
	same_as_49 state-enter "$R" x &&
	same_as_49 state-leave "$R" x &&
	same_as_49 log-level debug &&
	same_as_49 no-such-command &&
	same_as_49 trigger "$R" t "*.c" -- true &&
	grep "unknown command trigger" outfst &&
	same_as_49 watch &&
	grep "cli_validated" outfst &&
	same_as_49 get-config "$R"
'

test_expect_success $P 'watch-del through Watchman 4.9' '
	wm49 watch "$PWD/mnt/plain" >w &&
	test "$(wm_json w watch)" = "$PWD/mnt/plain" &&
	wm49 watch-del "$PWD/mnt/plain" >wd &&
	test "$(wm_json wd watch-del)" = true &&
	wm49 watch-list >wl &&
	! fst-test-tool json wl roots "*" | grep -x "$PWD/mnt/plain"
'

test_expect_success $P 'stop the daemon, unmount' '
	fst_daemon_stop &&
	umount "$PWD/mnt"
'

fst_done
