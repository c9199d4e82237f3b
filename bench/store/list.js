'use strict';
/**
 * list('') on the embedded store at N live records (what a start and a worker's snapshot do):
 * how long it takes and the event loop's longest stall meanwhile (the longest gap between two
 * ticks of a 1 ms timer). Also times reopening the store (the open-time scan). Values are instance
 * records of the size RegistryStoreSync stores. Each round lists once; min / median / max.
 *
 *   npm run build && N=1000000 ROUNDS=3 node bench/store/list.js [DIST]
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { triple } = require('../registry/stats');
const { timed } = require('../loop-gap');
const { fill } = require('./records');

const dist = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '..', 'dist'));
const { EmbeddedStore } = require(path.join(dist, 'store', 'embedded.js'));
const N = Number(process.env.N ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-list-'));
  let store = await EmbeddedStore.open(dir);
  await fill(store, N);
  await store.close();
  const sizeMiB = fs.statSync(path.join(dir, 'store.log')).size / 1048576;
  const open = [];
  const list = [];
  const listDelay = [];
  for (let round = 0; round < ROUNDS; round++) {
    const opened = await timed(() => EmbeddedStore.open(dir));
    store = opened.result;
    open.push(opened.ms);
    const listed = await timed(() => store.list(''));
    if (listed.result.entries.length !== N) throw new Error(`listed ${listed.result.entries.length} of ${N}`);
    list.push(listed.ms);
    listDelay.push(listed.maxDelayMs);
    await store.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`bench/store/list: ${N} records (${sizeMiB.toFixed(0)} MiB log), ${ROUNDS} rounds; min / median / max; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`open ms:                  ${triple(open)}`);
  console.log(`list('') ms:              ${triple(list)}`);
  console.log(`list('') max loop delay:  ${triple(listDelay)} ms`);
}

void main();
