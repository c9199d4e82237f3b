// bench/registry/map-steps.js: the longest single step of registry and store writes at scale,
// before vs after, interleaved. A V8 Map copies itself whole, in one step, when it grows and
// once deleted entries fill its spare room. The cases:
//  - index: the embedded store's RecordIndex with N keys, each write a key written again;
//  - index-churn: each write deletes the oldest key and adds a new one (deregistrations and
//    expiries while new instances register);
//  - registry: one service of N instances, each write a re-registration with the same labels
//    and address (a new object, health flipping), as an agent's restart or a health change is;
//  - registry-churn: each write removes the oldest instance and registers a new one;
//  - registry-relabel: each write re-registers an instance with its `version` label flipped,
//    moving it between two postings of N/2 instances each;
//  - load: from empty, each write a batch of 250 new instances into a registry and their keys
//    into a store index, a turn of a load by batch (N / 250 writes, rounded up: WRITES does not apply). Its
//    longest write is the longest batch turn: several maps' shards growing in the same one;
//  - index-load: the same, the store index alone (its arrays growing).
// Each (variant, case, round) runs in a child process of its own. Per run: the longest write and
// how many took over 1 and over 10 ms, leaving out writes a GC pause overlapped (their time is
// the collector's, reported apart), and the writes' total time.
// Usage: npm run build && node bench/registry/map-steps.js <BEFORE_DIST>   # N=1000000 WRITES=2000000 ROUNDS=3 CASES=index,registry
// CHILD_NODE_ARGS: V8 flags for the measuring processes (--no-incremental-marking: every mark-compact
// then a pause the GC observer reports, so marking steps cannot pass for a slow write).
'use strict';
const { fork } = require('node:child_process');
const path = require('node:path');
const { performance, PerformanceObserver } = require('node:perf_hooks');
const { triple, pairedRatios } = require('./stats');

const N = Number(process.env.N ?? 1000000);
const WRITES = Number(process.env.WRITES ?? 2 * N);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CASES = (process.env.CASES ?? 'index,index-churn,registry,registry-churn,registry-relabel,load').split(',');
const LOAD_BATCH = 250; // about what the server applies in one of its 4 ms slices

function instance(i, healthy, flipped = false) {
  return {
    id: `i${i}`, service: 'big', namespace: 'default', host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 100,
    metadata: { version: (i % 2 ? 1 : 0) ^ (flipped ? 1 : 0) ? 'gray' : 'stable', user: `u${i}` }, locality: {}, healthy, ephemeral: true, ttlSeconds: 30,
  };
}

/** In the child: builds the case's structure at N (the load cases: from empty), then times each of its writes. */
async function measure(dist, which) {
  const gcs = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries().map((e) => [e.startTime, e.startTime + e.duration])));
  let write;
  // Churn cases take out the oldest and add the next: ids `oldest` .. `oldest + N - 1` are live.
  let oldest = 0;
  if (which.endsWith('load')) {
    const { Registry } = require(path.join(dist, 'registry/registry.js'));
    const { RecordIndex } = require(path.join(dist, 'store/record-index.js'));
    const registry = which === 'load' ? new Registry() : undefined;
    const index = new RecordIndex();
    const turn = (k) => {
      for (let i = k * LOAD_BATCH; i < Math.min(N, (k + 1) * LOAD_BATCH); i++) {
        registry?.upsert(instance(i, true));
        index.set(`/mr/instances/default/big/i${i}`, i * 200, 200);
      }
    };
    write = registry ? (k) => registry.batch(() => turn(k)) : turn;
  } else if (which.startsWith('index')) {
    const { RecordIndex } = require(path.join(dist, 'store/record-index.js'));
    const index = new RecordIndex();
    const key = (i) => `/mr/instances/default/big/i${i}`;
    for (let i = 0; i < N; i++) index.set(key(i), i * 200, 200);
    let offset = N * 200;
    write = which === 'index'
      ? (k) => index.set(key(k % N), (offset += 200), 200)
      : () => {
        index.delete(key(oldest));
        index.set(key(N + oldest++), (offset += 200), 200);
      };
  } else {
    const { Registry } = require(path.join(dist, 'registry/registry.js'));
    const registry = new Registry();
    registry.batch(() => { for (let i = 0; i < N; i++) registry.upsert(instance(i, true)); });
    const flipped = new Uint8Array(N);
    write = which === 'registry'
      ? (k) => registry.upsert(instance(k % N, (k / N) % 2 < 1))
      : which === 'registry-churn'
        ? () => {
          registry.remove('default', 'big', `i${oldest}`);
          registry.upsert(instance(N + oldest++, true));
        }
        : (k) => registry.upsert(instance(k % N, true, (flipped[k % N] ^= 1) === 1));
  }
  observer.observe({ entryTypes: ['gc'] });
  const slow = [];
  let total = 0;
  let seed = 12345;
  const writes = which.endsWith('load') ? Math.ceil(N / LOAD_BATCH) : WRITES;
  for (let k = 0; k < writes; k++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const start = performance.now();
    write(k % 2 && !which.endsWith('load') ? seed : k);
    const took = performance.now() - start;
    total += took;
    if (took > 1) slow.push([start, start + took]);
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // the observer's entries arrive after the loop
  observer.disconnect();
  const own = slow.filter(([from, to]) => !gcs.some(([gFrom, gTo]) => gFrom < to && gTo > from)).map(([from, to]) => to - from);
  const gcMax = Math.max(0, ...gcs.map(([from, to]) => to - from));
  return { longest: Math.max(0, ...own), over1: own.length, over10: own.filter((t) => t > 10).length, totalMs: total, gcMax };
}

function run(dist, which) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['child', dist, which], { execArgv: ['--max-old-space-size=4096', ...(process.env.CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean)] });
    child.once('message', resolve);
    child.once('exit', (code) => code && reject(new Error(`${which} in ${dist}: exit ${code}`)));
  });
}

async function main() {
  const before = process.argv[2];
  if (!before) throw new Error('usage: node bench/registry/map-steps.js <BEFORE_DIST>');
  const variants = [{ name: 'before', dist: path.resolve(before) }, { name: 'after', dist: path.join(__dirname, '..', '..', 'dist') }];
  const results = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const which of CASES) {
      for (const v of round % 2 ? [...variants].reverse() : variants) {
        const r = await run(v.dist, which);
        ((results[which] ??= {})[v.name] ??= []).push(r);
        console.error(`round ${round + 1} ${which} ${v.name}: longest ${r.longest.toFixed(2)} ms, over 10 ms ${r.over10}, total ${r.totalMs.toFixed(0)} ms, longest GC ${r.gcMax.toFixed(1)} ms`);
      }
    }
  }
  console.log(`\nbench/registry/map-steps: ${N} keys, ${WRITES} writes (the load cases: ${Math.ceil(N / LOAD_BATCH)} of ${LOAD_BATCH} keys), ${ROUNDS} rounds (min / median / max); writes a GC pause overlapped left out\n`);
  console.log('| case | variant | longest write ms | writes over 10 ms | writes over 1 ms | all writes ms | longest GC pause ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const which of CASES) {
    for (const v of variants) {
      const rs = results[which][v.name];
      console.log(`| ${which} | ${v.name} | ${triple(rs.map((r) => r.longest))} | ${triple(rs.map((r) => r.over10), 0)} | ${triple(rs.map((r) => r.over1), 0)} | ${triple(rs.map((r) => r.totalMs), 0)} | ${triple(rs.map((r) => r.gcMax), 1)} |`);
    }
    const ratios = pairedRatios(results[which].before.map((r) => r.totalMs), results[which].after.map((r) => r.totalMs));
    console.log(`| ${which} | after / before, all writes, paired | ${triple(ratios)} | | | | |`);
  }
}

if (process.argv[2] === 'child') {
  measure(process.argv[3], process.argv[4]).then((r) => process.send(r, () => process.exit(0)));
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
