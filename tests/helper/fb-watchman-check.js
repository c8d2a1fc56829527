// SPDX-License-Identifier: MIT
// Node's fb-watchman (from npm) against fstrackd's Watchman socket, for
// tests/t/t5020: node fb-watchman-check.js MODULE_DIR PROJECT_ROOT
// Exits 0 when every check passed; prints what failed otherwise.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const watchman = require(path.join(process.argv[2], 'fb-watchman'));
const root = process.argv[3];

const client = new watchman.Client();
const cmd = (args) =>
  new Promise((ok, fail) => client.command(args, (e, r) => (e ? fail(e) : ok(r))));
const pushes = [];
client.on('subscription', (r) => pushes.push(r));

async function waitFor(what, pred, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('timed out waiting for ' + what + ': ' + JSON.stringify(pushes));
}
const has = (sub, pred) => pushes.some((p) => p.subscription === sub && (p.files || []).some(pred));

(async () => {
  const caps = await new Promise((ok, fail) =>
    client.capabilityCheck({ optional: ['suffix-set', 'no-such'], required: ['relative_root'] },
      (e, r) => (e ? fail(e) : ok(r))));
  assert.strictEqual(caps.capabilities['suffix-set'], true);
  assert.strictEqual(caps.capabilities['no-such'], false);

  const w = await cmd(['watch-project', path.join(root, 'src')]);
  assert.strictEqual(w.watch, root);
  assert.strictEqual(w.relative_path, 'src');
  const c = await cmd(['clock', w.watch]);
  assert.match(c.clock, /^c:fst1:/);

  // jest-haste-map's kind of query: files with suffixes, below relative_root
  const sub = {
    expression: ['allof', ['type', 'f'], ['anyof', ['suffix', 'js'], ['suffix', 'json']]],
    fields: ['name', 'exists', 'new', 'size', 'mtime_ms', 'type'],
    since: c.clock,
    relative_root: 'src',
  };
  const s = await cmd(['subscribe', w.watch, 'js', sub]);
  assert.strictEqual(s.subscribe, 'js');

  fs.writeFileSync(path.join(root, 'src/x.js'), 'x');
  fs.writeFileSync(path.join(root, 'src/ignored.txt'), 'x');
  await waitFor('x.js created', () => has('js', (f) => f.name === 'x.js' && f.exists && f.new));
  assert(!has('js', (f) => f.name === 'ignored.txt'), 'a .txt file was pushed');
  fs.unlinkSync(path.join(root, 'src/x.js'));
  await waitFor('x.js deleted', () => has('js', (f) => f.name === 'x.js' && !f.exists));

  const q = await cmd(['query', w.watch, { since: c.clock, relative_root: 'src', fields: ['name', 'exists'] }]);
  assert.strictEqual(q.is_fresh_instance, false);
  assert(q.files.some((f) => f.name === 'x.js' && !f.exists), JSON.stringify(q));
  const all = await cmd(['query', w.watch, { suffix: ['js'], fields: ['name'] }]);
  assert.strictEqual(all.is_fresh_instance, true);
  assert.deepStrictEqual(all.files.sort(), ['lib/l.js', 'src/a.js']);

  // states reach the subscriber as unilateral PDUs
  await cmd(['state-enter', w.watch, 'hg.update']);
  await waitFor('state-enter', () => pushes.some((p) => p['state-enter'] === 'hg.update'));
  await cmd(['state-leave', w.watch, 'hg.update']);
  await waitFor('state-leave', () => pushes.some((p) => p['state-leave'] === 'hg.update'));

  const u = await cmd(['unsubscribe', w.watch, 'js']);
  assert.strictEqual(u.deleted, true);
  client.end();
  console.log('fb-watchman: every check passed');
})().catch((e) => {
  console.error('fb-watchman check failed:', e && e.stack ? e.stack : e);
  process.exit(1);
});
