'use strict';
/**
 * What one replica's stop costs the others on etcd: a replica (a child process) holds KEYS
 * liveness keys, as it would for that many ephemeral instances it hears; then it closes (its
 * leases revoked) or is killed with SIGKILL (its leases run out). etcd deletes what each lease
 * held at one revision, and another store on the same etcd applies those deletes: printed, its
 * longest event-loop delay (monitorEventLoopDelay, 1 ms resolution) from the stop until the last
 * delete arrived, and the time from the first delete to the last. The variants (this build, and
 * with BEFORE_DIST another build's dist/) alternate over ROUNDS, each round on a key prefix of its
 * own. docs/PERFORMANCE.md's "before" is commit 245a559 (one lease per replica) built with the
 * etcd client's 'grpc.max_receive_message_length' raised as this build's is: without that, its
 * watch never receives the revision of 100,000 deletes.
 * Needs etcd (ETCD_BIN or PATH) and a build (`npm run build`).
 *
 *   node bench/store/replica-stop.js [BEFORE_DIST]    # KEYS=100000 ROUNDS=3 LEASE_SECONDS=10
 */
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const { ETCD_BIN, startEtcd } = require('../serving');
const { pairedRatios, triple } = require('../registry/stats');

const KEYS = Number(process.env.KEYS ?? 100000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const LEASE_SECONDS = Number(process.env.LEASE_SECONDS ?? 10);
const PER_CALL = 500;

const storeConfig = (endpoint, prefix) => ({ kind: 'etcd', endpoints: [endpoint], prefix, tls: undefined, auth: undefined, leaseSeconds: LEASE_SECONDS });

/** The holding replica: puts KEYS held keys, says so, and closes when asked. */
async function holder(dist, endpoint, prefix) {
  const { EtcdStore } = require(path.join(dist, 'store', 'etcd.js'));
  const { silentLogger } = require(path.join(dist, 'log', 'logger.js'));
  const store = await EtcdStore.open(storeConfig(endpoint, prefix), silentLogger);
  for (let from = 0; from < KEYS; from += PER_CALL) {
    const puts = [];
    for (let i = from; i < Math.min(KEYS, from + PER_CALL); i++) puts.push({ key: `liveness/default/pods/p${i}`, value: 'bench', held: true });
    await store.putAll(puts);
  }
  process.send('ready');
  process.on('message', async () => {
    await store.close();
    process.send('closed');
  });
}

/** One round: resolves with the watching store's longest event-loop delay (ms) while the deletes arrived, and their spread (ms). */
async function round(dist, endpoint, prefix, mode) {
  const child = fork(__filename, ['holder', dist, endpoint, prefix], { stdio: 'inherit' });
  try {
    await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`the holding replica exited with ${code}`)));
    });
    const { EtcdStore } = require(path.join(dist, 'store', 'etcd.js'));
    const { silentLogger } = require(path.join(dist, 'log', 'logger.js'));
    const store = await EtcdStore.open(storeConfig(endpoint, prefix), silentLogger);
    try {
      let deleted = 0;
      let first = 0;
      const delay = monitorEventLoopDelay({ resolution: 1 });
      const { revision } = await store.list('\u0000');
      store.watch('liveness/', revision, (event) => {
        if (event.type === 'delete' && deleted++ === 0) first = performance.now();
      });
      delay.enable(); // before the stop: the watch response is decoded before its first delete is applied
      if (mode === 'killed') child.kill('SIGKILL');
      else child.send('close');
      const deadline = performance.now() + (LEASE_SECONDS + 20) * 1000;
      while (deleted < KEYS && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      delay.disable();
      if (deleted < KEYS) throw new Error(`${deleted} of ${KEYS} deletes arrived`);
      return { maxMs: delay.max / 1e6, spreadMs: performance.now() - first };
    } finally {
      await store.close();
    }
  } finally {
    child.kill('SIGKILL');
  }
}

async function main() {
  const variants = [];
  if (process.argv[2]) variants.push({ name: 'before', dist: path.resolve(process.argv[2]) });
  variants.push({ name: 'after', dist: path.join(__dirname, '..', '..', 'dist') });
  const results = new Map();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-replica-stop-'));
  const etcd = await startEtcd(dir);
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of ['closed', 'killed']) {
        for (const v of variants) {
          const key = `${v.name} ${mode}`;
          if (!results.has(key)) results.set(key, []);
          results.get(key).push(await round(v.dist, etcd.endpoint, `/bench/${v.name}/${mode}/${r}/`, mode));
        }
      }
    }
  } finally {
    etcd.process.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nbench/store/replica-stop: a replica holding ${KEYS} liveness keys (${LEASE_SECONDS} s leases) closes or is killed; another store on the same etcd applies the deletes; ${ROUNDS} interleaved rounds; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log('| variant | the other store: longest event-loop delay ms | first to last delete ms |\n|---|---:|---:|');
  for (const [key, rounds] of results) console.log(`| ${key} | ${triple(rounds.map((x) => x.maxMs))} | ${triple(rounds.map((x) => x.spreadMs), 0)} |`);
  if (variants.length > 1) {
    for (const mode of ['closed', 'killed']) {
      const ratio = pairedRatios(results.get(`before ${mode}`).map((x) => x.maxMs), results.get(`after ${mode}`).map((x) => x.maxMs));
      console.log(`\n  ${mode}: longest delay after / before, paired: ${triple(ratio, 3)}`);
    }
  }
}

if (process.argv[2] === 'holder') {
  holder(process.argv[3], process.argv[4], process.argv[5]).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else if (!ETCD_BIN) {
  console.log('bench/store/replica-stop.js: skipped, no etcd binary (set ETCD_BIN or apt-get install -y etcd-server)');
} else {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
