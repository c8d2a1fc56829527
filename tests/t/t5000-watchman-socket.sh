#!/bin/sh
test_description='fstrackd --watchman-socket: Watchman'"'"'s protocol, commands, limits, permissions

The socket next to the main one speaks JSON lines and BSER v1/v2, chosen
per PDU. Commands answer as Watchman'"'"'s do (fstrack'"'"'s own watchman
command, fstrack-watchman, talks to it); clocks are fstrack tokens; a
client is checked as itself (the kernel applies its credentials to every
walk and hash); a request is bounded, a walk runs off the event loop, and
a client that goes away cancels its work.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/watchman-lib.sh

P=ROOT,TMPFS,FANOTIFY
T=$SHARNESS_TRASH_DIRECTORY
HELPER=$FST_SRC_DIR/tests/helper

# py SCRIPT: python with wmtest importable, the socket in $SOCK
py() {
	SOCK=$FST_WSOCK HELPER=$HELPER "$PY" -c "import sys, os; sys.path.insert(0, os.environ['HELPER']); import wmtest
$1"
}

test_expect_success $P 'setup: a project on a tmpfs, the daemon with its Watchman socket' '
	fst_mount_tmpfs "$PWD/mnt" &&
	mkdir -p mnt/proj/.git mnt/proj/src/deep mnt/plain/sub &&
	echo one >mnt/proj/src/a.c &&
	echo two >mnt/proj/src/b.h &&
	echo top >mnt/proj/README &&
	fst_daemon_start &&
	test -S "$FST_WSOCK" &&
	test "$(stat -c %a "$FST_WSOCK")" = 666
'

test_expect_success $P 'version and capabilities in JSON, BSER v1 and BSER v2' '
	for e in json bser bser-v2
	do
		wm --server-encoding=$e --no-pretty \
			-j <<-\EOF >v.$e || return 1
		["version", {"optional": ["relative_root", "no-such-thing"], "required": ["term-match"]}]
		EOF
		test "$(wm_json v.$e version)" = 4.9.0 &&
		test "$(wm_json v.$e capabilities relative_root)" = true &&
		test "$(wm_json v.$e capabilities no-such-thing)" = false || return 1
	done &&
	wm --server-encoding=json --no-pretty -j <<-\EOF >req &&
	["version", {"required": ["term-pcre"]}]
	EOF
	grep "client required capability .term-pcre. is not supported" req
'

test_expect_success $P,PYWATCHMAN 'one connection may change encodings from one PDU to the next' '
	py "
c = wmtest.Conn(os.environ[\"SOCK\"])
for enc in [\"json\", \"bser\", \"bser-v2\", \"json\", \"bser-v2\", \"bser\"]:
    ans, got = c.call([\"get-sockname\"], enc)
    assert got == enc, (enc, got)
    assert ans[\"sockname\"] == os.environ[\"SOCK\"], ans
"
'

test_expect_success $P 'watch-project finds the project by its root files' '
	wm --no-pretty watch-project mnt/proj/src/deep >wp &&
	test "$(wm_json wp watch)" = "$PWD/mnt/proj" &&
	test "$(wm_json wp relative_path)" = src/deep &&
	test "$(wm_json wp watcher)" = fstrack &&
	wm --no-pretty watch-project mnt/plain/sub >wp2 &&
	test "$(wm_json wp2 watch)" = "$PWD/mnt/plain/sub" &&
	! grep relative_path wp2 &&
	fstrack status --json >st &&
	fst-test-tool json st scopes "*" path >scopes &&
	grep -x "$PWD/mnt/proj" scopes &&
	grep -x "$PWD/mnt/plain/sub" scopes
'

test_expect_success $P 'watch-list, and a root that is not watched is refused in Watchman'"'"'s words' '
	wm --no-pretty watch-list >wl &&
	fst-test-tool json wl roots "*" >roots &&
	grep -x "$PWD/mnt/proj" roots &&
	wm --no-pretty clock "$PWD/mnt/plain" >nw &&
	grep "unable to resolve root .* directory .* is not watched" nw &&
	wm --no-pretty watch-del "$PWD/mnt/plain/sub" >wd &&
	test "$(wm_json wd watch-del)" = true &&
	fstrack status --json >st &&
	! fst-test-tool json st scopes "*" path | grep -x "$PWD/mnt/plain/sub"
'

test_expect_success $P 'query, since, find: what changed, with new and exists' '
	R=$PWD/mnt/proj &&
	c0=$(wm --no-pretty clock "$R" | fst-test-tool json - clock) &&
	case $c0 in c:fst1:*) ;; *) echo "clock $c0"; false ;; esac &&
	echo new >mnt/proj/src/n.c &&
	echo more >>mnt/proj/src/a.c &&
	rm mnt/proj/src/b.h &&
	wm --no-pretty -j >q <<-EOF &&
	["query", "$R", {"since": "$c0", "fields": ["name", "exists", "new", "type"],
	 "expression": ["not", ["type", "d"]]}]
	EOF
	test "$(wm_json q is_fresh_instance)" = false &&
	"$PY" -c "
import json, sys
a = json.load(open(\"q\"))
f = {x[\"name\"]: x for x in a[\"files\"]}
assert f[\"src/n.c\"][\"exists\"] and f[\"src/n.c\"][\"new\"], f
assert f[\"src/a.c\"][\"exists\"] and not f[\"src/a.c\"][\"new\"], f
assert not f[\"src/b.h\"][\"exists\"], f
assert \"README\" not in f, f
" &&
	wm --no-pretty since "$R" "$c0" "*.c" "**/*.c" >s &&
	test "$(wm_json s is_fresh_instance)" = false &&
	fst-test-tool json s files "*" name >snames &&
	grep -x src/n.c snames && ! grep -x src/b.h snames &&
	wm --no-pretty find "$R" "**/*.c" >f &&
	fst-test-tool json f files "*" name | sort >fnames &&
	printf "src/a.c\nsrc/n.c\n" >expect &&
	test_cmp expect fnames
'

test_expect_success $P 'generators and keys: glob, suffix, path, relative_root, dedup, fresh' '
	R=$PWD/mnt/proj &&
	wm --no-pretty -j >g <<-EOF &&
	["query", "$R", {"glob": ["src/*.c", "**/*.c"], "fields": ["name"]}]
	EOF
	fst-test-tool json g files "*" | sort >gn &&
	printf "src/a.c\nsrc/n.c\n" >expect && test_cmp expect gn &&
	test "$(wm_json g is_fresh_instance)" = true &&
	wm --no-pretty -j >sx <<-EOF &&
	["query", "$R", {"suffix": ["c", "h"], "fields": ["name"]}]
	EOF
	fst-test-tool json sx files "*" | sort >sxn && test_cmp expect sxn &&
	wm --no-pretty -j >pa <<-EOF &&
	["query", "$R", {"path": [{"path": "src", "depth": 0}], "fields": ["name"]}]
	EOF
	fst-test-tool json pa files "*" | sort >pan &&
	printf "src/a.c\nsrc/deep\nsrc/n.c\n" >expect && test_cmp expect pan &&
	c1=$(wm --no-pretty clock "$R" | fst-test-tool json - clock) &&
	echo x >mnt/proj/src/deep/x.c && echo y >mnt/proj/README &&
	wm --no-pretty -j >rr <<-EOF &&
	["query", "$R", {"since": "$c1", "relative_root": "src", "fields": ["name"]}]
	EOF
	fst-test-tool json rr files "*" >rrn &&
	grep -x deep/x.c rrn && ! grep README rrn &&
	wm --no-pretty -j >e <<-EOF &&
	["query", "$R", {"empty_on_fresh_instance": true, "fields": ["name"]}]
	EOF
	test "$(wm_json e is_fresh_instance)" = true &&
	test "$(fst-test-tool json e files | tr -d " \n")" = "[]"
'

test_expect_success $P 'a clock of another Watchman is a fresh instance; named cursors' '
	R=$PWD/mnt/proj &&
	wm --no-pretty since "$R" c:1480000000:1234:1:99 >fr &&
	test "$(wm_json fr is_fresh_instance)" = true &&
	wm --no-pretty since "$R" n:mycursor >n1 &&
	test "$(wm_json n1 is_fresh_instance)" = true &&
	echo later >mnt/proj/later.c &&
	wm --no-pretty since "$R" n:mycursor >n2 &&
	test "$(wm_json n2 is_fresh_instance)" = false &&
	fst-test-tool json n2 files "*" name >n2n &&
	grep -x later.c n2n &&
	wm --no-pretty since "$R" n:mycursor >n3 &&
	! fst-test-tool json n3 files "*" name | grep -x later.c
'

test_expect_success $P 'content.sha1hex is the content'"'"'s SHA-1' '
	R=$PWD/mnt/proj &&
	wm --no-pretty -j >h <<-EOF &&
	["query", "$R", {"path": [{"path": "src", "depth": 0}], "fields": ["name", "content.sha1hex"]}]
	EOF
	"$PY" -c "
import json, hashlib
a = json.load(open(\"h\"))
f = {x[\"name\"]: x[\"content.sha1hex\"] for x in a[\"files\"]}
assert f[\"src/a.c\"] == hashlib.sha1(open(\"mnt/proj/src/a.c\", \"rb\").read()).hexdigest(), f
assert f[\"src/deep\"] is None, f
"
'

test_expect_success $P 'the clock covers everything done before it, 200 times over' '
	py "
R = os.path.abspath(\"mnt/proj\")
c = wmtest.Conn(os.environ[\"SOCK\"])
prev = c.call([\"clock\", R])[0][\"clock\"]
for i in range(200):
    with open(os.path.join(R, \"c%d\" % i), \"w\") as f:
        f.write(\"x\")
    now = c.call([\"clock\", R, {\"sync_timeout\": 1000}])[0][\"clock\"]
    ans = c.call([\"query\", R, {\"since\": prev, \"fields\": [\"name\"]}])[0]
    assert \"c%d\" % i in ans[\"files\"], (i, ans)
    prev = now
"
'

test_expect_success $P 'errors come back as Watchman'"'"'s, and the connection goes on' '
	py "
c = wmtest.Conn(os.environ[\"SOCK\"])
R = os.path.abspath(\"mnt/proj\")
def err(cmd, want):
    a = c.call(cmd)[0]
    assert want in a.get(\"error\", \"\"), (cmd, a)
err([\"no-such-command\"], \"unknown command no-such-command\")
err([\"query\", R, {\"expression\": [\"bogus\"]}], \"failed to parse query\")
err([\"query\", R, {\"expression\": [\"pcre\", \"x\"]}], \"pcre\")
err([\"shutdown-server\"], \"refused\")
err([\"watch-del-all\"], \"refused\")
err([\"trigger\", R, \"t\", \"*\", \"--\", \"ls\"], \"unknown command trigger\")
err([\"query\", \"relative/path\", {}], \"must be absolute\")
err({\"not\": \"an array\"}, \"invalid command\")
c.send_raw(b\"this is not json\\n\")
a = c.recv()[0]
assert \"invalid JSON\" in a[\"error\"], a
assert c.call([\"version\"])[0][\"version\"] == \"4.9.0\"
"
'

test_expect_success $P 'every cmd-* capability is a command the daemon answers' '
	wm --no-pretty list-capabilities >caps &&
	fst-test-tool json caps capabilities "*" | sed -n "s/^cmd-//p" >cmds &&
	test $(wc -l <cmds) -ge 15 &&
	py "
c = wmtest.Conn(os.environ[\"SOCK\"])
for name in open(\"cmds\").read().split():
    a = c.call([name])[0]
    assert \"unknown command\" not in a.get(\"error\", \"\"), (name, a)
"
'

test_expect_success $P 'a request longer than the bound is refused and the connection closed' '
	py "
c = wmtest.Conn(os.environ[\"SOCK\"])
try:
    c.send_raw(b\"[\\\"version\\\", \\\"\" + b\"x\" * (3 << 20) + b\"\\\"]\\n\")
except (BrokenPipeError, ConnectionResetError):
    pass  # it stopped reading: the daemon closed the connection
try:
    while True:
        a = c.recv()[0]
        assert \"at most\" in a[\"error\"], a
except (EOFError, ConnectionResetError):
    pass  # closed, with or without the refusal reaching us first
" &&
	wm --no-pretty version >v && test "$(wm_json v version)" = 4.9.0
'

test_expect_success $P,PYWATCHMAN 'deep nesting is refused, never recursed into' '
	py "
import pywatchman.bser as bser
c = wmtest.Conn(os.environ[\"SOCK\"])
c.send_raw(b\"[\" * 5000 + b\"]\" * 5000 + b\"\\n\")
a = c.recv()[0]
assert \"invalid JSON\" in a[\"error\"], a
# BSER: 100000 nested arrays of one element, built by hand
body = b\"\\x00\\x03\\x01\" * 100000 + b\"\\x0a\"
n = len(body)
c.send_raw(b\"\\x00\\x01\\x05\" + n.to_bytes(4, \"little\") + body)
a = c.recv()[0]
assert \"error\" in a, a
assert c.call([\"version\"])[0][\"version\"] == \"4.9.0\"
"
'

test_expect_success $P,SETPRIV 'an unprivileged client is checked as itself' '
	mkdir -p mnt/shared/pub mnt/shared/priv mnt/closed &&
	echo p >mnt/shared/pub/p.txt &&
	echo s >mnt/shared/priv/secret.txt &&
	echo r >mnt/shared/root-only.txt &&
	chmod 755 mnt mnt/shared mnt/shared/pub && chmod 700 mnt/shared/priv mnt/closed &&
	chmod 600 mnt/shared/root-only.txt &&
	chmod 755 . &&
	wm watch "$PWD/mnt/shared" >/dev/null &&
	as_nobody "$FST_WATCHMAN" --sockname "$FST_WSOCK" --no-pretty watch "$PWD/mnt/closed" >nb1 &&
	grep "Permission denied" nb1 &&
	as_nobody "$FST_WATCHMAN" --sockname "$FST_WSOCK" --no-pretty -j >nb2 <<-EOF &&
	["query", "$PWD/mnt/shared", {"fields": ["name", "content.sha1hex"]}]
	EOF
	fst-test-tool json nb2 files "*" name >nb2n &&
	grep -x pub/p.txt nb2n && grep -x priv nb2n && ! grep secret nb2n &&
	"$PY" -c "
import json
f = {x[\"name\"]: x[\"content.sha1hex\"] for x in json.load(open(\"nb2\"))[\"files\"]}
assert isinstance(f[\"root-only.txt\"], dict) and \"error\" in f[\"root-only.txt\"], f
assert isinstance(f[\"pub/p.txt\"], str), f
" &&
	c=$(as_nobody "$FST_WATCHMAN" --sockname "$FST_WSOCK" --no-pretty clock "$PWD/mnt/shared" |
		fst-test-tool json - clock) &&
	echo t >mnt/shared/priv/secret2.txt &&
	echo u >mnt/shared/pub/q.txt &&
	as_nobody "$FST_WATCHMAN" --sockname "$FST_WSOCK" --no-pretty since "$PWD/mnt/shared" "$c" >nb3 &&
	test "$(wm_json nb3 is_fresh_instance)" = false &&
	fst-test-tool json nb3 files "*" name >nb3n &&
	grep -x pub/q.txt nb3n && ! grep secret nb3n
'

test_expect_success $P,SETPRIV 'named cursors and states are each user'"'"'s own' '
	R="$PWD/mnt/shared" py "
import time
R = os.environ[\"R\"]
def as_nobody(fn):
    # fn(conn) in a child that is nobody; returns a pipe: close it to end the child
    r, w = os.pipe()
    back_r, back_w = os.pipe()
    if os.fork() == 0:
        os.close(w); os.close(back_r)
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        c = wmtest.Conn(os.environ[\"SOCK\"])
        fn(c)
        os.write(back_w, b\"x\")
        os.read(r, 1)
        os._exit(0)
    os.close(r); os.close(back_w)
    assert os.read(back_r, 1) == b\"x\"
    return w
def write(p):
    with open(os.path.join(R, p), \"w\") as f:
        f.write(\"x\")
c = wmtest.Conn(os.environ[\"SOCK\"])
# a cursor: another user using the name does not move the cursor of root
a = c.call([\"query\", R, {\"since\": \"n:cur\", \"fields\": [\"name\"]}])[0]
assert a[\"is_fresh_instance\"], a
write(\"pub/cur.txt\")
def other_cursor(o):
    b = o.call([\"query\", R, {\"since\": \"n:cur\", \"fields\": [\"name\"]}])[0]
    assert b[\"is_fresh_instance\"], b
os.close(as_nobody(other_cursor))
a = c.call([\"query\", R, {\"since\": \"n:cur\", \"fields\": [\"name\"]}])[0]
assert not a[\"is_fresh_instance\"] and \"pub/cur.txt\" in a[\"files\"], a
# a state another user asserts does not drop the changes of root
clock = c.call([\"clock\", R])[0][\"clock\"]
c.call([\"subscribe\", R, \"keep\", {\"since\": clock, \"fields\": [\"name\"], \"drop\": [\"build\"]}])
def other_state(o):
    e = o.call([\"state-enter\", R, \"build\"])[0]
    assert e.get(\"state-enter\") == \"build\", e
hold = as_nobody(other_state)
write(\"pub/kept.txt\")
end = time.monotonic() + 10
got = []
c.s.settimeout(1)
while time.monotonic() < end and \"pub/kept.txt\" not in got:
    try:
        p = c.recv()[0]
    except OSError:
        continue
    assert not p.get(\"state-enter\"), p
    got += p.get(\"files\", [])
os.close(hold)
assert \"pub/kept.txt\" in got, got
"
'

test_expect_success $P 'a walk runs off the event loop: clocks are answered meanwhile' '
	mkdir mnt/big &&
	"$PY" -c "
import os
for d in range(60):
    p = \"mnt/big/d%02d\" % d
    os.makedirs(p, exist_ok=True)
    for i in range(500):
        with open(\"%s/f%03d\" % (p, i), \"w\") as f:
            f.write(\"x\" * 100)
" &&
	wm watch "$PWD/mnt/big" >/dev/null &&
	py "
import threading, time
R = os.path.abspath(\"mnt/big\")
done = {}
def walk():
    c = wmtest.Conn(os.environ[\"SOCK\"], timeout=600)
    a = c.call([\"query\", R, {\"fields\": [\"name\", \"content.sha1hex\", \"mtime_ms\"]}])[0]
    done[\"walk\"] = time.monotonic()
    done[\"n\"] = len(a[\"files\"])
t = threading.Thread(target=walk); t.start()
time.sleep(0.05)
c = wmtest.Conn(os.environ[\"SOCK\"])
n = 0
while \"walk\" not in done:
    c.call([\"clock\", R])
    n += 1
t.join()
assert done[\"n\"] == 30060, done
assert n >= 3, \"only %d clocks while the walk ran\" % n
print(\"%d clocks answered during the walk\" % n)
"
'

test_expect_success $P 'a client that goes away cancels its walks; the daemon goes on' '
	py "
import time
R = os.path.abspath(\"mnt/big\")
for i in range(8):
    c = wmtest.Conn(os.environ[\"SOCK\"])
    c.send([\"query\", R, {\"fields\": [\"name\", \"content.sha1hex\"]}])
    time.sleep(0.01)
    c.close()
t0 = time.monotonic()
c = wmtest.Conn(os.environ[\"SOCK\"])
a = c.call([\"query\", os.path.abspath(\"mnt/proj\"), {\"fields\": [\"name\"]}])[0]
assert \"files\" in a, a
" &&
	fstrack status >/dev/null
'

test_expect_success $P 'limits: connections of one user' '
	fst_daemon_stop &&
	fst_daemon_start --max-clients-per-user 2 &&
	chmod 755 "$T" &&
	as_nobody "$PY" -c "
import socket, json, os
cs = []
for i in range(2):
    s = socket.socket(socket.AF_UNIX); s.connect(os.environ[\"FST_WSOCK\"]); cs.append(s)
    s.sendall(b\"[\\\"version\\\"]\\n\"); assert b\"4.9.0\" in s.recv(4096)
s = socket.socket(socket.AF_UNIX); s.connect(os.environ[\"FST_WSOCK\"])
a = json.loads(s.recv(4096))
assert \"too many connections of this user\" in a[\"error\"], a
# the main socket has the same listener: its own count, its own protocol
ms = []
for i in range(2):
    m = socket.socket(socket.AF_UNIX); m.connect(os.environ[\"FST_SOCK\"]); ms.append(m)
    m.sendall(b\"{\\\"v\\\":1,\\\"op\\\":\\\"hello\\\"}\\n\"); assert b\"\\\"ok\\\":true\" in m.recv(4096)
m = socket.socket(socket.AF_UNIX); m.connect(os.environ[\"FST_SOCK\"])
a = json.loads(m.recv(4096))
assert a[\"ok\"] is False and \"too many connections of this user\" in a[\"error\"], a
" &&
	fstrack status --json >st &&
	test "$(fst-test-tool json st daemon clients_refused)" -ge 1
'

test_expect_success $P '--no-watchman-socket; --watchman-socket PATH' '
	fst_daemon_stop &&
	fst_daemon_start --no-watchman-socket &&
	! test -e "$FST_WSOCK" &&
	fst_daemon_stop &&
	fst_daemon_start --watchman-socket "$T/other.sock" &&
	test -S "$T/other.sock" &&
	"$FST_WATCHMAN" --sockname "$T/other.sock" --no-pretty watch-list >wl &&
	grep "$PWD/mnt/proj" wl &&
	fst_daemon_stop &&
	! test -e "$T/other.sock" &&
	fst_daemon_start
'

fst_done
