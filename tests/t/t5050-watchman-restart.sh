#!/bin/sh
test_description='Watchman clocks survive restarts of fstrackd, checked against ground truth

A clock taken before the daemon stops (SIGTERM) or dies (SIGKILL) is
answered after it starts again, not as a fresh instance, with the changes
made while it was down. Ground truth: the manifests of the tree before
and after (fst-test-tool), whose differences must all be in the answer:
every path that exists now by its name, every path that is gone by its
name or a directory above it that the answer lists (fstrack'"'"'s catch-up
scan knows a directory lost names, not which). A query that takes only
files gets each changed file by its name, or a fresh instance: a listed
directory would not tell it.'

. "$(dirname "$0")"/../lib/test-lib.sh
. "$FST_SRC_DIR"/tests/lib/watchman-lib.sh

P=ROOT,TMPFS,FANOTIFY,PYWATCHMAN

# check_answers NAME: NAME.clock was taken before, NAME.m0 / NAME.m1 are
# the manifests; ask since the clock (all, and files only) and check.
check_answers() {
	fst-test-tool oracle "$1.m0" "$1.m1" >"$1.oracle" &&
	R="$PWD/mnt/root" CLOCK=$(cat "$1.clock") ORACLE="$1.oracle" M0="$1.m0" M1="$1.m1" "$PY" -c "
import json, os, pywatchman, urllib.parse
R, clock = os.environ['R'], os.environ['CLOCK']
def types(m):
    t = {}
    for line in open(m, 'rb'):
        path, kind = line.split(b' ')[:2]
        t[urllib.parse.unquote_to_bytes(path).decode('utf-8', 'surrogateescape')] = kind.decode()
    return t
t0, t1 = types(os.environ['M0']), types(os.environ['M1'])
c = pywatchman.client(sockpath=os.environ['FST_WSOCK'], timeout=120)
changes = [x for x in json.load(open(os.environ['ORACLE']))['changes'] if x['path'] != '.']
assert changes, 'the scenario changed nothing'
a = c.query('query', R, {'since': clock, 'fields': ['name', 'exists', 'type']})
assert not a['is_fresh_instance'], 'a fresh instance after the restart'
names = {f['name']: f for f in a['files']}
dirs = {n for n, f in names.items() if f['type'] == 'd'}
missed = []
for ch in changes:
    p = ch['path']
    if os.path.lexists(os.path.join(R, p)):
        if p not in names or not names[p]['exists']:
            missed.append(p)
    elif p not in names:
        up = p
        while '/' in up and up not in dirs:
            up = up.rsplit('/', 1)[0]
        if up not in dirs:
            missed.append(p)
assert not missed, 'not in the answer: %r' % missed
f = c.query('query', R, {'since': clock, 'fields': ['name', 'exists'], 'expression': ['type', 'f']})
print('%d changes, %d names in the answer, not fresh; files only: %s' % (len(changes), len(names),
      'fresh' if f['is_fresh_instance'] else 'not fresh'))
if not f['is_fresh_instance']:
    fnames = {x['name'] for x in f['files']}
    regular = [ch['path'] for ch in changes if 'f' in (t0.get(ch['path']), t1.get(ch['path']))]
    gone = [p for p in regular if p not in fnames]
    assert not gone, 'files only, not fresh, but without %r' % gone
" >"$1.out" 2>&1 || { cat "$1.out"; return 1; }
	fst_diag "$1: $(head -n 1 "$1.out")"
}

test_expect_success $P 'setup: a tree below one directory of the root, watched' '
	fst_mount_tmpfs "$PWD/mnt" &&
	mkdir -p mnt/root/w &&
	fst-test-tool workload --seed 5050 --ops 300 mnt/root/w >/dev/null &&
	fst_daemon_start &&
	wm watch "$PWD/mnt/root" >/dev/null
'

for round in 1 2 3
do
	test_expect_success $P "round $round: changes while the daemon was stopped" '
		wm --no-pretty clock "$PWD/mnt/root" | fst-test-tool json - clock >r$round.clock &&
		fst-test-tool manifest mnt/root >r$round.m0 &&
		sleep 3 && # past the catch-up scan'"'"'s margin
		fst_daemon_stop &&
		fst-test-tool workload --seed $((5050 + $round)) --ops 40 mnt/root/w >/dev/null &&
		fst-test-tool manifest mnt/root >r$round.m1 &&
		fst_daemon_start &&
		check_answers r$round
	'
done

test_expect_success $P 'killed: changes while the daemon was dead, and after' '
	wm --no-pretty clock "$PWD/mnt/root" | fst-test-tool json - clock >k.clock &&
	fst-test-tool manifest mnt/root >k.m0 &&
	sleep 3 &&
	fst_daemon_kill &&
	fst-test-tool workload --seed 5060 --ops 40 mnt/root/w >/dev/null &&
	fst_daemon_start &&
	fst-test-tool workload --seed 5061 --ops 20 mnt/root/w >/dev/null &&
	fst-test-tool manifest mnt/root >k.m1 &&
	check_answers k
'

test_expect_success $P 'a name gone from the root itself while down: a fresh instance' '
	: >mnt/root/top &&
	wm --no-pretty clock "$PWD/mnt/root" | fst-test-tool json - clock >t.clock &&
	sleep 3 &&
	fst_daemon_stop &&
	rm mnt/root/top &&
	fst_daemon_start &&
	wm --no-pretty since "$PWD/mnt/root" "$(cat t.clock)" >t.json &&
	test "$(wm_json t.json is_fresh_instance)" = true
'

test_expect_success $P 'stop the daemon, unmount' '
	fst_daemon_stop &&
	umount "$PWD/mnt"
'

fst_done
