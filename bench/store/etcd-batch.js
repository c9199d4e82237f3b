'use strict';
/**
 * A registration batch on the etcd store, before vs after: `EtcdStore.putAll` of RECORDS
 * instance records, every other one ephemeral, written as each build's registry writes it:
 * beside its record a liveness key on the replica's lease (`held`), or, for a build from before
 * liveness keys, a TTL on a lease of the record's own (an hour long, so that no lease runs out,
 * deleting keys, during later rounds); handed over in calls of 500 as the registry does, against one etcd on loopback. The
 * variants alternate over ROUNDS, each round on a store (and key prefix) of its own; printed:
 * ms until every put is durable and back through the store's watch, min / median / max, and
 * the paired ratio after / before.
 * Needs etcd (ETCD_BIN or PATH) and a build (`npm run build`).
 *
 *   node bench/store/etcd-batch.js [BEFORE_DIST]    # RECORDS=10000 ROUNDS=5
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { ETCD_BIN, startEtcd } = require('../serving');
const { pairedRatios, summary, triple } = require('../registry/stats');

const RECORDS = Number(process.env.RECORDS ?? 10000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const PER_CALL = 500;

/** One round: a fresh store on `prefix`, RECORDS puts in calls of PER_CALL; resolves with the ms they took. */
async function round(dist, endpoint, prefix) {
  const { EtcdStore } = require(path.join(dist, 'store', 'etcd.js'));
  const { silentLogger } = require(path.join(dist, 'log', 'logger.js'));
  const held = EtcdStore.prototype.hasOwnProperty('holder'); // a build with liveness keys
  const store = await EtcdStore.open({ kind: 'etcd', endpoints: [endpoint], prefix, tls: undefined, auth: undefined, leaseSeconds: 10 }, silentLogger);
  try {
    const t0 = performance.now();
    const calls = [];
    for (let from = 0; from < RECORDS; from += PER_CALL) {
      const puts = [];
      for (let i = from; i < Math.min(RECORDS, from + PER_CALL); i++) {
        const value = JSON.stringify({ host: `10.0.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 100, metadata: { version: i % 2 ? 'gray' : 'stable' } });
        const ephemeral = i % 2 === 1;
        if (held || !ephemeral) puts.push({ key: `instances/default/big/i${i}`, value });
        else puts.push({ key: `instances/default/big/i${i}`, value, ttlSeconds: 3600 }); // no lease runs out during the run
        if (held && ephemeral) puts.push({ key: `liveness/default/big/i${i}`, value: 'bench', held: true });
      }
      calls.push(store.putAll(puts));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(calls);
    const ms = performance.now() - t0;
    const { entries } = await store.list('instances/');
    if (entries.length !== RECORDS) throw new Error(`${entries.length} of ${RECORDS} records listed after the batch`);
    return ms;
  } finally {
    await store.close();
  }
}

async function main() {
  const variants = [];
  if (process.argv[2]) variants.push({ name: 'before', dist: path.resolve(process.argv[2]), ms: [] });
  variants.push({ name: 'after', dist: path.join(__dirname, '..', '..', 'dist'), ms: [] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-etcd-batch-'));
  const etcd = await startEtcd(dir);
  try {
    for (let r = 0; r < ROUNDS; r++) for (const v of variants) v.ms.push(await round(v.dist, etcd.endpoint, `/bench/${v.name}/${r}/`));
  } finally {
    etcd.process.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nbench/store/etcd-batch: ${RECORDS} records (half ephemeral) by putAll in calls of ${PER_CALL}, one etcd on loopback, ${ROUNDS} interleaved rounds; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  for (const v of variants) console.log(`  ${v.name.padEnd(6)} ms: ${triple(v.ms)}  (${(RECORDS / (summary(v.ms).median / 1000)).toFixed(0)} records/s at the median)`);
  if (variants.length > 1) console.log(`\n  after / before, paired: ${triple(pairedRatios(variants[0].ms, variants[1].ms))}`);
}

if (!ETCD_BIN) {
  console.log('bench/store/etcd-batch.js: skipped, no etcd binary (set ETCD_BIN or apt-get install -y etcd-server)');
  process.exit(0);
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
