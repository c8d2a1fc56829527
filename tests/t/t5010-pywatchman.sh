#!/bin/sh
test_description='pywatchman (Debian python3-pywatchman) against fstrackd'"'"'s Watchman socket

Watchman'"'"'s own Python client, over BSER v2 (what it speaks on Python 3)
and through the watchman command (its "cli" transport, JSON): it finds the
socket with "watchman get-sockname" when WATCHMAN_SOCK is not set, checks
capabilities, watches a project, asks what changed since a clock,
subscribes (with defer, drop, defer_vcs, states and asserted-states, and
unilateral pushes), and sees its states abandoned when their client goes.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/watchman-lib.sh

P=ROOT,TMPFS,FANOTIFY,PYWATCHMAN

# pw SCRIPT: python with pywatchman; R is the project, SOCK the socket,
# client() a new connection. A failed assert fails the test.
pw() {
	R="$PWD/mnt/proj" "$PY" -c "
import os, sys, time, hashlib, pywatchman
R = os.environ['R']
SOCK = os.environ.get('FST_WSOCK')
def client(**kw):
    kw.setdefault('timeout', 30)
    return pywatchman.client(sockpath=SOCK, **kw)
def write(p, text='x'):
    with open(os.path.join(R, p), 'w') as f:
        f.write(text)
def pushes(c, name, want, seconds=20):
    # the subscription's pushes until one lists every name of want
    got = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for p in c.getSubscription(name) or []:
            got.append(p)
        names = set(n for p in got for n in p.get('files', []) if isinstance(n, str)) | \
                set(n['name'] for p in got for n in p.get('files', []) if isinstance(n, dict))
        if want <= names:
            return got
        try:
            c.receive()
        except pywatchman.SocketTimeout:
            pass
    raise AssertionError('no push with %r in %r' % (want, got))
$1"
}

test_expect_success $P 'setup: a project and the daemon' '
	fst_mount_tmpfs "$PWD/mnt" &&
	mkdir -p mnt/proj/.git mnt/proj/src mnt/proj/lib &&
	echo a >mnt/proj/src/a.js && echo b >mnt/proj/lib/b.js &&
	fst_daemon_start
'

test_expect_success $P 'the socket through "watchman get-sockname" (BSER output), then BSER v2' '
	wm_wrapper bin &&
	FST_WSOCK_REAL=$FST_WSOCK PATH=$PWD/bin:$PATH WATCHMAN_SOCK= pw "
c = pywatchman.client(timeout=30)
assert c.query(\"get-sockname\")[\"sockname\"] == os.environ[\"FST_WSOCK_REAL\"]
caps = c.capabilityCheck(optional=[\"relative_root\", \"bogus\"], required=[\"term-dirname\", \"wildmatch\"])
assert caps[\"capabilities\"][\"relative_root\"] and not caps[\"capabilities\"][\"bogus\"], caps
w = c.query(\"watch-project\", os.path.join(R, \"src\"))
assert w[\"watch\"] == R and w[\"relative_path\"] == \"src\", w
assert c.recvConn.bser_version == 2
"
'

test_expect_success $P 'query since a clock: created, modified, deleted, with fields' '
	pw "
c = client()
clock = c.query(\"clock\", R, {\"sync_timeout\": 2000})[\"clock\"]
write(\"src/new.js\", \"new\")
write(\"lib/b.js\", \"bb\")
os.unlink(os.path.join(R, \"src/a.js\"))
a = c.query(\"query\", R, {\"since\": clock, \"expression\": [\"allof\", [\"type\", \"f\"], [\"suffix\", \"js\"]],
    \"fields\": [\"name\", \"exists\", \"new\", \"size\", \"mtime_ms\", \"content.sha1hex\"]})
assert not a[\"is_fresh_instance\"], a
f = {x[\"name\"]: x for x in a[\"files\"]}
assert set(f) == {\"src/new.js\", \"lib/b.js\", \"src/a.js\"}, f
assert f[\"src/new.js\"][\"new\"] and f[\"src/new.js\"][\"exists\"] and f[\"src/new.js\"][\"size\"] == 3, f
assert f[\"src/new.js\"][\"content.sha1hex\"] == hashlib.sha1(b\"new\").hexdigest(), f
assert not f[\"lib/b.js\"][\"new\"] and f[\"lib/b.js\"][\"exists\"], f
assert not f[\"src/a.js\"][\"exists\"], f
again = c.query(\"query\", R, {\"since\": a[\"clock\"], \"fields\": [\"name\"]})
assert again[\"files\"] == [] and not again[\"is_fresh_instance\"], (a, again)
"
'

test_expect_success $P 'the cli transport: the watchman command with -j' '
	PATH=$FST_WBIN:$PATH pw "
c = client(transport=\"cli\", sendEncoding=\"json\", recvEncoding=\"json\")
v = c.query(\"version\")
assert v[\"version\"] == \"4.9.0\", v
a = c.query(\"query\", R, {\"glob\": [\"**/*.js\"], \"fields\": [\"name\"]})
assert sorted(a[\"files\"]) == [\"lib/b.js\", \"src/new.js\"], a
"
'

test_expect_success $P 'subscribe: the first batch, then a push at each change' '
	pw "
c = client()
r = c.query(\"subscribe\", R, \"all\", {\"fields\": [\"name\", \"exists\"], \"expression\": [\"type\", \"f\"]})
assert r[\"subscribe\"] == \"all\" and r[\"clock\"].startswith(\"c:fst1:\") and r[\"asserted-states\"] == [], r
first = pushes(c, \"all\", {\"lib/b.js\", \"src/new.js\"})
assert first[0][\"is_fresh_instance\"] and first[0][\"unilateral\"] and first[0][\"root\"] == R, first
for i in range(5):
    write(\"src/s%d.js\" % i)
    p = pushes(c, \"all\", {\"src/s%d.js\" % i})
    assert not p[-1][\"is_fresh_instance\"] and p[-1][\"since\"].startswith(\"c:fst1:\"), p
os.unlink(os.path.join(R, \"src/s0.js\"))
p = pushes(c, \"all\", {\"src/s0.js\"})
assert {\"name\": \"src/s0.js\", \"exists\": False} in p[-1][\"files\"], p
u = c.query(\"unsubscribe\", R, \"all\")
assert u[\"deleted\"], u
"
'

test_expect_success $P 'defer holds pushes while a state is asserted; drop loses them' '
	pw "
c = client()
clock = c.query(\"clock\", R)[\"clock\"]
c.query(\"subscribe\", R, \"d\", {\"since\": clock, \"fields\": [\"name\"], \"defer\": [\"build\"]})
c.query(\"subscribe\", R, \"x\", {\"since\": clock, \"fields\": [\"name\"], \"drop\": [\"build\"]})
s = c.query(\"state-enter\", R, {\"name\": \"build\", \"metadata\": {\"who\": \"t5010\"}})
assert s[\"state-enter\"] == \"build\" and s[\"root\"] == R, s
other = client()
r = other.query(\"subscribe\", R, \"late\", {\"fields\": [\"name\"], \"defer\": [\"build\"], \"since\": clock})
assert r[\"asserted-states\"] == [\"build\"], r
write(\"src/held.js\")
time.sleep(1)
try:
    c.receive()
except pywatchman.SocketTimeout:
    pass
got = [p for n in (\"d\", \"x\") for p in (c.getSubscription(n) or [])]
assert all(\"files\" not in p for p in got), got
assert any(p.get(\"state-enter\") == \"build\" and p.get(\"metadata\") == {\"who\": \"t5010\"} for p in got), got
c.query(\"state-leave\", R, \"build\")
p = pushes(c, \"d\", {\"src/held.js\"})
assert any(q.get(\"state-leave\") == \"build\" for q in p), p
write(\"src/after.js\")
p = pushes(c, \"x\", {\"src/after.js\"})
names = set(n for q in p for n in q.get(\"files\", []))
assert \"src/held.js\" not in names, p
"
'

test_expect_success $P 'states: one owner; a client that goes abandons its states' '
	pw "
c = client()
watcher = client()
watcher.query(\"subscribe\", R, \"w\", {\"fields\": [\"name\"], \"expression\": [\"false\"]})
c.query(\"state-enter\", R, \"lock\")
try:
    client().query(\"state-enter\", R, \"lock\")
    raise SystemExit(\"entered twice\")
except pywatchman.CommandError as e:
    assert \"already asserted\" in str(e), e
try:
    client().query(\"state-leave\", R, \"lock\")
    raise SystemExit(\"another session left it\")
except pywatchman.CommandError as e:
    assert \"not asserted by this session\" in str(e), e
c.close()
end = time.monotonic() + 20
seen = []
while time.monotonic() < end and not any(p.get(\"abandoned\") for p in seen):
    try:
        watcher.receive()
    except pywatchman.SocketTimeout:
        pass
    seen += watcher.getSubscription(\"w\") or []
assert any(p.get(\"state-leave\") == \"lock\" and p.get(\"abandoned\") for p in seen), seen
client().query(\"state-enter\", R, \"lock\")
"
'

test_expect_success $P 'defer_vcs: no push while .git/index.lock exists' '
	pw "
c = client()
clock = c.query(\"clock\", R)[\"clock\"]
c.query(\"subscribe\", R, \"v\", {\"since\": clock, \"fields\": [\"name\"]})
c.query(\"subscribe\", R, \"nv\", {\"since\": clock, \"fields\": [\"name\"], \"defer_vcs\": False})
write(\".git/index.lock\")
write(\"src/during.js\")
pushes(c, \"nv\", {\"src/during.js\"})
assert not any(\"files\" in p for p in c.getSubscription(\"v\") or []), \"pushed during the lock\"
os.unlink(os.path.join(R, \".git/index.lock\"))
pushes(c, \"v\", {\"src/during.js\"})
"
'

test_expect_success $P 'a subscription ends with "canceled" when its root is watch-deleted' '
	mkdir -p mnt/other &&
	pw "
c = client()
O = os.path.join(os.path.dirname(R), \"other\")
c.query(\"watch\", O)
c.query(\"subscribe\", O, \"o\", {\"fields\": [\"name\"]})
client().query(\"watch-del\", O)
end = time.monotonic() + 10
seen = []
while time.monotonic() < end and not any(p.get(\"canceled\") for p in seen):
    try:
        c.receive()
    except pywatchman.SocketTimeout:
        pass
    seen += c.getSubscription(\"o\") or []
assert any(p.get(\"canceled\") for p in seen), seen
"
'

test_expect_success $P 'a push that is a fresh instance comes even with no files' '
	mkdir -p mnt/proj/only/sub &&
	echo x >mnt/proj/only/sub/x.js &&
	pw "
c = client()
clock = c.query(\"clock\", R)[\"clock\"]
# files only, below only/: when only/sub goes as a whole, its old names are
# not kept and no file is left to list: the push must still say fresh
c.query(\"subscribe\", R, \"f\", {\"since\": clock, \"relative_root\": \"only\",
    \"fields\": [\"name\"], \"expression\": [\"type\", \"f\"]})
c.query(\"subscribe\", R, \"e\", {\"since\": clock, \"relative_root\": \"only\",
    \"fields\": [\"name\"], \"expression\": [\"type\", \"f\"], \"empty_on_fresh_instance\": True})
import shutil
shutil.rmtree(os.path.join(R, \"only/sub\"))
end = time.monotonic() + 20
seen = {\"f\": [], \"e\": []}
while time.monotonic() < end and not all(any(p.get(\"is_fresh_instance\") for p in v) for v in seen.values()):
    try:
        c.receive()
    except pywatchman.SocketTimeout:
        pass
    for n in seen:
        seen[n] += c.getSubscription(n) or []
for n, v in seen.items():
    assert any(p.get(\"is_fresh_instance\") and p[\"files\"] == [] for p in v), (n, seen)
"
'

fst_done
