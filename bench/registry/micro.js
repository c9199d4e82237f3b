// bench/registry/micro.js: the registry in-process, before vs after, interleaved.
// Per service size N: the cost of one registration as the server pays it (upsert, the
// snapshot the engine swaps in, and the two subset() lookups a routed request makes), of a
// heartbeat, and of one expiry check with nothing due; plus heap bytes per instance.
// Usage: node --expose-gc bench/registry/micro.js [BEFORE_DIST] (default: only ./dist).
// Variants run A, B, A, B ... over ROUNDS rounds; prints min / median / max and paired ratios.
'use strict';
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { triple, pairedRatios, fmt } = require('./stats');

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SIZES = (process.env.SIZES ?? '1000,10000,100000').split(',').map(Number);
const BUDGET_MS = Number(process.env.BUDGET_MS ?? 250);
const variants = [];
if (process.argv[2]) variants.push({ name: 'before', dist: path.resolve(process.argv[2]) });
variants.push({ name: 'after', dist: path.join(__dirname, '..', '..', 'dist') });
for (const v of variants) v.Registry = require(path.join(v.dist, 'registry/registry.js')).Registry;

function instance(i, service = 'big') {
  return {
    id: `i${i}`, service, namespace: 'default', host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 100,
    metadata: { version: i % 2 ? 'gray' : 'stable', user: `u${i}` }, locality: {}, healthy: true, ephemeral: true, ttlSeconds: 30,
  };
}

/** Runs `op` until the budget is spent (at least 3 times); µs per op. */
function timed(op) {
  const start = performance.now();
  let n = 0;
  while (n < 3 || (performance.now() - start < BUDGET_MS && n < 100000)) op(n++);
  return ((performance.now() - start) * 1000) / n;
}

function cell(v, size) {
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const registry = new v.Registry();
  registry.batch(() => { for (let i = 0; i < size; i++) registry.upsert(instance(i)); });
  let view = registry.snapshot().services.get('default/big');
  view.subset({ version: 'gray' });
  global.gc?.();
  const bytesPerInstance = (process.memoryUsage().heapUsed - heapBefore) / size;
  const register = timed((n) => {
    registry.upsert({ ...instance(size + n), metadata: { version: 'gray', user: `new${n}` } });
    view = registry.snapshot().services.get('default/big');
    view.subset({ version: 'gray' });
    view.subset({ user: 'u1' });
  });
  const heartbeat = timed((n) => registry.heartbeat('default', 'big', `i${n % size}`));
  const expiry = timed(() => registry.expired());
  return { register, heartbeat, expiry, bytesPerInstance };
}

const results = new Map(); // `${variant}/${size}/${metric}` -> values
const put = (key, value) => (results.get(key) ?? results.set(key, []).get(key)).push(value);
for (let round = 0; round < ROUNDS; round++) {
  for (const size of SIZES) {
    for (const v of variants) {
      const r = cell(v, size);
      for (const [metric, value] of Object.entries(r)) put(`${v.name}/${size}/${metric}`, value);
    }
  }
}

console.log(`\nbench/registry/micro: ${ROUNDS} interleaved rounds; min / median / max\n`);
const metrics = [['register', 'µs per registration (upsert + snapshot + 2 subsets)'], ['heartbeat', 'µs per heartbeat'], ['expiry', 'µs per expiry check, nothing due'], ['bytesPerInstance', 'heap bytes per instance']];
for (const [metric, label] of metrics) {
  console.log(`${label}`);
  console.log(`| instances | ${variants.map((v) => v.name).join(' | ')} |${variants.length > 1 ? ' after/before (paired, median) |' : ''}`);
  console.log(`|---:|${variants.map(() => '---:|').join('')}${variants.length > 1 ? '---:|' : ''}`);
  for (const size of SIZES) {
    const series = variants.map((v) => results.get(`${v.name}/${size}/${metric}`));
    const ratio = variants.length > 1 ? ` ${triple(pairedRatios(series[0], series[1]), 4).split(' / ')[1]} |` : '';
    console.log(`| ${size} | ${series.map((s) => triple(s)).join(' | ')} |${ratio}`);
  }
  console.log('');
}
