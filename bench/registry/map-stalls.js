// bench/registry/map-stalls.js: the longest single operation on a V8 Map against ShardedMap
// (src/model/sharded-map.ts) at 100,000 and 1,000,000 string keys: growing from empty, and
// churn (each key deleted and inserted again, as the store's index does on every rewrite and a
// subset's positions when members move). A Map copies all its entries in one step when it
// grows or its capacity is used up by deletions; that step holds the event loop.
// Variants alternate (Map, ShardedMap, Map, ...) over ROUNDS (default 3). Needs `npm run build`.
'use strict';
const path = require('node:path');
const { performance, PerformanceObserver } = require('node:perf_hooks');
const { ShardedMap } = require(path.join(__dirname, '..', '..', 'dist', 'model', 'sharded-map'));
const { triple, pairedRatios } = require('./stats');

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const key = (i) => `default/big/i${i}`;

// GC pauses land inside single operations too; an operation a GC overlapped is not counted.
const gcs = [];
new PerformanceObserver((list) => gcs.push(...list.getEntries().map((e) => [e.startTime, e.startTime + e.duration]))).observe({ entryTypes: ['gc'] });
const slow = []; // [start, end] of operations over 1 ms
function timed(op) {
  const t = performance.now();
  op();
  const end = performance.now();
  if (end - t > 1) slow.push([t, end]);
}
/** The longest of the operations since `from` that no GC overlapped. */
async function longestWithoutGc(from) {
  await new Promise((resolve) => setImmediate(resolve)); // the GC entries are delivered
  let worst = 0;
  for (const [start, end] of slow.splice(from)) if (!gcs.some(([a, b]) => a < end && b > start)) worst = Math.max(worst, end - start);
  return worst;
}

async function run(make, n) {
  const map = make();
  let t0 = performance.now();
  for (let i = 0; i < n; i++) timed(() => map.set(key(i), i));
  const growMs = performance.now() - t0;
  const growWorst = await longestWithoutGc(0);
  t0 = performance.now();
  for (let k = 0; k < n; k++) {
    const name = key((k * 7919) % n);
    timed(() => {
      const value = map.get(name);
      map.delete(name);
      map.set(name, value);
    });
  }
  const churnMs = performance.now() - t0;
  return { growWorst, growMs, churnWorst: await longestWithoutGc(0), churnMs };
}

async function main() {
for (const n of [100000, 1000000]) {
  const results = { Map: [], ShardedMap: [] };
  for (let round = 0; round < ROUNDS; round++) {
    results.Map.push(await run(() => new Map(), n));
    results.ShardedMap.push(await run(() => new ShardedMap(), n));
  }
  console.log(`\n${n.toLocaleString('en')} keys, ${ROUNDS} rounds alternated; min / median / max`);
  console.log('| | longest insert while growing, ms (no GC in it) | growing, total ms | longest delete + insert under churn, ms (no GC in it) | churn, total ms |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(results)) {
    console.log(`| ${name} | ${triple(r.map((x) => x.growWorst))} | ${triple(r.map((x) => x.growMs))} | ${triple(r.map((x) => x.churnWorst))} | ${triple(r.map((x) => x.churnMs))} |`);
  }
  const ratio = (k) => triple(pairedRatios(results.Map.map((x) => x[k]), results.ShardedMap.map((x) => x[k])));
  console.log(`ShardedMap / Map, paired: total growing ${ratio('growMs')}, total churn ${ratio('churnMs')}`);
}
}

main();
