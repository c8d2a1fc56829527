// SPDX-License-Identifier: MIT
// bench/watchman.sh: jest-haste-map builds its file map of ROOT, crawling
// with Watchman (through WATCHMAN_SOCK) or, with "node", with its own
// crawler. Prints the build's time in seconds and the number of files.
//   node jest-crawl.js MODULE_DIR ROOT EXTENSION watchman|node CACHE_DIR
'use strict';
const path = require('path');
const [moduleDir, root, ext, how, cache] = process.argv.slice(2);
const HasteMap = require(path.join(moduleDir, 'jest-haste-map')).default;

(async () => {
  const map = await HasteMap.create({
    id: 'bench-' + how,
    rootDir: root,
    roots: [root],
    extensions: [ext],
    platforms: [],
    maxWorkers: 1,
    cacheDirectory: cache,
    resetCache: true, // no clock from before: the full crawl, every run
    retainAllFiles: true,
    computeDependencies: false,
    computeSha1: false,
    useWatchman: how === 'watchman',
    throwOnModuleCollision: false,
  });
  const t0 = process.hrtime.bigint();
  const { hasteFS } = await map.build();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${s.toFixed(3)} ${hasteFS.getAllFiles().length}`);
})().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
