// bench/registry/slices.js: the longest synchronous step of each part of a registration batch,
// in process (no HTTP client, no other process on this event loop), at SIZE instances:
// body JSON.parse, batch validation (yields every 500), the store's group commit, and applying
// the store events to the registry (4 ms slices); plus the event loop's max delay
// (monitorEventLoopDelay) over the whole batch. ROUNDS rounds; min / median / max.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const dist = path.join(__dirname, '..', '..', 'dist');
const { EmbeddedStore } = require(path.join(dist, 'store/embedded'));
const { Registry } = require(path.join(dist, 'registry/registry'));
const { RegistryStoreSync } = require(path.join(dist, 'registry/store-sync'));
const { parseBatch } = require(path.join(dist, 'registry/batch-input'));
const { triple } = require('./stats');

const SIZE = Number(process.env.SIZE ?? 100000);
const BATCH = Number(process.env.BATCH ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const instance = (i, version) => ({ service: 'big', id: `i${i}`, host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, metadata: { version, user: `u${i}` }, ttlSeconds: 3600 });

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-slices-'));
  const store = await EmbeddedStore.open(dir, { log: () => undefined });
  const registry = new Registry();
  const sync = new RegistryStoreSync(store, registry, console.error, 15);
  await sync.start();
  const load = [];
  for (let i = 0; i < SIZE; i++) load.push(instance(i, 'gray'));
  for (let from = 0; from < SIZE; from += BATCH) {
    const parsed = await parseBatch({ register: load.slice(from, from + BATCH) }, { ttlSeconds: 15 });
    await sync.batch(parsed.batch.register, []);
  }
  registry.snapshot().services.get('default/big').subset({ version: 'gray' });

  // Time every turn of the event loop this process runs, by wrapping setImmediate callbacks is not possible for
  // the store's own; instead: the loop's max delay during each step, sampled every millisecond.
  const results = { parse: [], validate: [], batch: [], loopMax: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const body = JSON.stringify({ register: Array.from({ length: BATCH }, (_, k) => instance((round * BATCH + k) % SIZE, round % 2 ? 'stable' : 'gray')) });
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    let t = performance.now();
    const input = JSON.parse(body);
    results.parse.push(performance.now() - t);
    let longest = 0;
    const timer = setInterval(() => undefined, 1); // keeps the loop sampling between steps
    t = performance.now();
    const parsed = await parseBatch(input, { ttlSeconds: 15 });
    results.validate.push(performance.now() - t);
    t = performance.now();
    await sync.batch(parsed.batch.register, []);
    results.batch.push(performance.now() - t);
    clearInterval(timer);
    loop.disable();
    longest = loop.max / 1e6;
    results.loopMax.push(longest);
  }
  console.log(`\nbench/registry/slices: ${BATCH}-entry batches replacing instances of a ${SIZE}-instance service, in process; ${ROUNDS} rounds, min / median / max ms\n`);
  console.log(`| step | ms |\n|---|---:|`);
  console.log(`| JSON.parse of the body (one synchronous step) | ${triple(results.parse)} |`);
  console.log(`| validation, whole batch (yields every 500) | ${triple(results.validate)} |`);
  console.log(`| store writes + apply, whole batch (500 writes per turn, 4 ms apply slices) | ${triple(results.batch)} |`);
  console.log(`| max event-loop delay during validation + writes + apply | ${triple(results.loopMax)} |`);
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
