'use strict';
/**
 * Opening the embedded store at N live records (a restart): how long the open-time scan takes
 * and the peak RSS of the process meanwhile, before vs after, each open in its own process
 * (peak RSS is per process), alternated over ROUNDS. Values are instance records of the size
 * RegistryStoreSync stores.
 *
 *   npm run build && N=1000000 ROUNDS=3 node bench/store/open.js [BEFORE_DIST]
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { pairedRatios, triple } = require('../registry/stats');
const { fill } = require('./records');

const N = Number(process.env.N ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

async function child(dist, dir) {
  const { EmbeddedStore } = require(path.join(dist, 'store', 'embedded.js'));
  const started = performance.now();
  const store = await EmbeddedStore.open(dir);
  const ms = performance.now() - started;
  await store.close();
  process.stdout.write(JSON.stringify({ ms, peakRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

async function main() {
  const variants = [];
  if (process.argv[2]) variants.push({ name: 'before', dist: path.resolve(process.argv[2]), runs: [] });
  variants.push({ name: 'after', dist: path.join(__dirname, '..', '..', 'dist'), runs: [] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-open-'));
  const { EmbeddedStore } = require(path.join(variants[variants.length - 1].dist, 'store', 'embedded.js'));
  const store = await EmbeddedStore.open(dir);
  await fill(store, N);
  await store.close();
  const sizeMiB = fs.statSync(path.join(dir, 'store.log')).size / 1048576;
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) v.runs.push(JSON.parse(execFileSync(process.execPath, [__filename, '--child', v.dist, dir], { encoding: 'utf8' })));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`bench/store/open: ${N} records (${sizeMiB.toFixed(0)} MiB log), a process per open, ${ROUNDS} alternated rounds; min / median / max; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log('| variant | open ms | peak RSS MiB |\n|---|---:|---:|');
  for (const v of variants) console.log(`| ${v.name} | ${triple(v.runs.map((r) => r.ms), 0)} | ${triple(v.runs.map((r) => r.peakRssMiB), 0)} |`);
  if (variants.length === 2) {
    const [before, after] = variants;
    console.log(`\nafter / before, paired: open ${triple(pairedRatios(before.runs.map((r) => r.ms), after.runs.map((r) => r.ms)))}, peak RSS ${triple(pairedRatios(before.runs.map((r) => r.peakRssMiB), after.runs.map((r) => r.peakRssMiB)))}`);
  }
}

if (process.argv[2] === '--child') void child(process.argv[3], process.argv[4]);
else void main();
