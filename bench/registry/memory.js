// bench/registry/memory.js: where the memory of N ephemeral instances is, before vs after.
// Each cell is a fresh child process (`node --expose-gc`), so heap and RSS are its own:
//  - `registry`: the instances parsed as the admin API parses them, upserted into a Registry,
//    and the two subsets the bench's rule routes to looked up (memoised);
//  - `server`: the same through the real write path: an EmbeddedStore in a temporary directory,
//    RegistryStoreSync.batch() 2,000 per call from JSON bodies (what POST /v1/instances/batch does).
// Prints heap bytes per instance (after two full GCs) and RSS, min / median / max over ROUNDS,
// variants interleaved (before, after, before, after ...), and the paired ratio after/before.
// Usage: node bench/registry/memory.js [BEFORE_DIST]   # N=1000000 ROUNDS=2 MODES=registry,server
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

if (process.argv[2] === '--child') child(process.argv[3], process.argv[4], Number(process.argv[5]));
else main();

function main() {
  const { triple, pairedRatios } = require('./stats');
  const N = Number(process.env.N ?? 1000000);
  const ROUNDS = Number(process.env.ROUNDS ?? 2);
  const MODES = (process.env.MODES ?? 'registry,server').split(',');
  const variants = [];
  if (process.argv[2]) variants.push({ name: 'before', dist: path.resolve(process.argv[2]) });
  variants.push({ name: 'after', dist: path.join(__dirname, '..', '..', 'dist') });
  const results = new Map();
  const put = (key, value) => (results.get(key) ?? results.set(key, []).get(key)).push(value);
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of MODES) {
      for (const v of variants) {
        const out = execFileSync(process.execPath, ['--expose-gc', __filename, '--child', v.dist, mode, String(N)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
        const r = JSON.parse(out.trim().split('\n').pop());
        for (const [metric, value] of Object.entries(r)) put(`${v.name}/${mode}/${metric}`, value);
      }
    }
  }
  console.log(`\nbench/registry/memory: ${N} instances, ${ROUNDS} interleaved rounds; min / median / max; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log(`| mode | metric | ${variants.map((v) => v.name).join(' | ')} |${variants.length > 1 ? ' after/before, paired median |' : ''}`);
  console.log(`|---|---|${variants.map(() => '---:|').join('')}${variants.length > 1 ? '---:|' : ''}`);
  for (const mode of MODES) {
    for (const metric of ['heapBytesPerInstance', 'rssMiB', 'heapTotalMiB', 'externalMiB', 'loadSeconds']) {
      const series = variants.map((v) => results.get(`${v.name}/${mode}/${metric}`));
      if (!series[0]) continue;
      const ratio = variants.length > 1 ? ` ${triple(pairedRatios(series[0], series[1]), 3).split(' / ')[1]} |` : '';
      console.log(`| ${mode} | ${metric} | ${series.map((s) => triple(s)).join(' | ')} |${ratio}`);
    }
  }
}

function body(from, to) {
  const register = [];
  for (let i = from; i < to; i++) {
    register.push({ service: 'big', id: `i${i}`, host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, metadata: { version: i % 2 ? 'gray' : 'stable', user: `u${i}` }, ttlSeconds: 3600 });
  }
  return JSON.stringify({ register });
}

async function child(dist, mode, n) {
  const { Registry } = require(path.join(dist, 'registry/registry.js'));
  const { parseBatch } = require(path.join(dist, 'registry/batch-input.js'));
  const heap = () => {
    global.gc();
    global.gc();
    return process.memoryUsage().heapUsed;
  };
  const BATCH = 2000;
  const before = heap();
  const started = process.hrtime.bigint();
  const registry = new Registry();
  let store;
  let dir;
  if (mode === 'registry') {
    for (let from = 0; from < n; from += BATCH) {
      const parsed = await parseBatch(JSON.parse(body(from, Math.min(n, from + BATCH))), { ttlSeconds: 30 });
      registry.batch(() => { for (const instance of parsed.batch.register) registry.upsert(instance); });
    }
  } else {
    const { EmbeddedStore } = require(path.join(dist, 'store/embedded.js'));
    const { RegistryStoreSync } = require(path.join(dist, 'registry/store-sync.js'));
    const { silentLogger } = require(path.join(dist, 'log/logger.js'));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-memory-'));
    store = await EmbeddedStore.open(dir);
    const sync = new RegistryStoreSync(store, registry, silentLogger, 30);
    await sync.start();
    for (let from = 0; from < n; from += BATCH) {
      const parsed = await parseBatch(JSON.parse(body(from, Math.min(n, from + BATCH))), { ttlSeconds: 30 });
      await sync.batch(parsed.batch.register, []);
    }
  }
  const loadSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const view = registry.snapshot().services.get('default/big');
  view.subset({ version: 'gray' });
  view.subset({ version: 'stable' });
  const heapBytesPerInstance = (heap() - before) / n;
  const { rss, heapTotal, external } = process.memoryUsage();
  const [rssMiB, heapTotalMiB, externalMiB] = [rss, heapTotal, external].map((b) => b / 1048576);
  if (view.instances.length !== n) throw new Error(`registered ${view.instances.length} of ${n}`);
  process.stdout.write(`${JSON.stringify({ heapBytesPerInstance, rssMiB, heapTotalMiB, externalMiB, loadSeconds })}\n`);
  if (store) await store.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  global.keep = registry; // alive until here
}
