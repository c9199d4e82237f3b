// bench/envoy/large-eds.js: a real Envoy 1.40 on metaroute's ADS, subscribed to one cluster of
// INSTANCES endpoints (default 100,000; a subset load balancer on `version`, as the rule makes
// it), while the registry churns as in bench/registry/run.js (churn.js: 1,000 replacements/s with
// changed labels, 20,000 heartbeats/s). Phases idle and churn alternate over ROUNDS (default 3) of
// PHASE_SECONDS (default 10). Per phase: the EDS pushes metaroute sent, the ClusterLoadAssignment
// updates Envoy applied and rejected (its cluster stats), Envoy's CPU (all its threads, /proc) per
// update applied and as a share of one core, Envoy's RSS, and from metaroute's /metrics how long versions
// took from their creation to Envoy's ACK (the convergence histogram: an ACK comes after Envoy
// has applied the update). The question it answers: does Envoy keep up with the pushes metaroute
// paces for a cluster this size, and what do they cost it?
// Needs `npm run build` and `npm run envoy:install`. Env: INSTANCES, ROUNDS, PHASE_SECONDS, DIST
// (another build's dist/, to compare: run the script for each, alternated).
'use strict';
const { execFileSync, fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort, untilServingLogged, waitFor } = require('../serving');
const { envoyCluster, startAdsEnvoy } = require('./ads-envoy');
const { instance, post } = require('../registry/admin');
const { triple, fmt } = require('../registry/stats');

const INSTANCES = Number(process.env.INSTANCES ?? 100000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PHASE_SECONDS = Number(process.env.PHASE_SECONDS ?? 10);
const BATCH = 2000;
const CLUSTER = 'big.default';
const ROOT = path.join(__dirname, '..', '..');
const DIST = path.resolve(process.env.DIST ?? path.join(ROOT, 'dist'));
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-large-eds-'));
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const children = [];

async function startMetaroute() {
  const ports = { ext: await freePort(), admin: await freePort(), xds: await freePort() };
  const rules = path.join(OUT, 'rules.yaml');
  fs.writeFileSync(rules, 'rules:\n  - name: split\n    service: big\n    destinations: [{ name: gray, labels: { version: gray }, weight: 50 }, { name: stable, labels: { version: stable }, weight: 50 }]\n');
  const logPath = path.join(OUT, 'metaroute.log');
  const child = fork(path.join(DIST, 'cli/main.js'), ['serve'], {
    env: { ...process.env, METAROUTE_EXTPROC_PORT: String(ports.ext), METAROUTE_ADMIN_PORT: String(ports.admin), METAROUTE_XDS_PORT: String(ports.xds), METAROUTE_DATA_DIR: path.join(OUT, 'data'), METAROUTE_RULES_FILE: rules },
    stdio: ['ignore', 'ignore', fs.openSync(logPath, 'w'), 'ipc'],
  });
  children.push(child);
  await untilServingLogged(child, logPath);
  return { admin: `http://127.0.0.1:${ports.admin}`, xdsPort: ports.xds };
}

/** CPU ms (user + system, all threads) and RSS MiB of a process. */
function usage(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const rssPages = Number(fields[21]);
  return { cpuMs: ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1000, rssMiB: (rssPages * 4096) / 1048576 };
}

/** metaroute's EDS pushes so far, and its EDS convergence histogram (cumulative bucket counts by upper bound). */
async function metarouteXds(admin) {
  const text = await (await fetch(`${admin}/metrics`)).text();
  let pushes = 0;
  const buckets = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('metaroute_xds_pushes_total{type="eds"}')) pushes = Number(line.slice(line.lastIndexOf(' ') + 1));
    const bucket = /^metaroute_xds_convergence_seconds_bucket\{type="eds",le="([^"]+)"\} (\d+)/.exec(line);
    if (bucket) buckets.set(bucket[1] === '+Inf' ? Infinity : Number(bucket[1]), Number(bucket[2]));
  }
  return { pushes, buckets };
}

/** The bucket bound under which a fraction q of the phase's ACKs fell (upper bound: a histogram's resolution). */
function quantileBound(before, after, q) {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total === 0) return NaN;
  for (const bound of bounds) if ((after.get(bound) ?? 0) - (before.get(bound) ?? 0) >= q * total) return bound * 1000;
  return Infinity;
}

async function phase(server, envoy, name, round) {
  let stop = async () => undefined;
  if (name === 'churn') {
    const churn = fork(path.join(__dirname, '..', 'registry', 'churn.js'), [server.admin, String(INSTANCES), String(round)]);
    children.push(churn);
    await new Promise((resolve) => churn.once('message', resolve)); // 'started'
    stop = () => new Promise((resolve) => {
      churn.once('message', resolve);
      churn.send('stop');
    });
  }
  const [xdsBefore, clusterBefore] = [await metarouteXds(server.admin), await envoyCluster(envoy, CLUSTER)];
  const usageBefore = usage(envoy.pid);
  await new Promise((resolve) => setTimeout(resolve, PHASE_SECONDS * 1000));
  const usageAfter = usage(envoy.pid);
  const [xdsAfter, clusterAfter] = [await metarouteXds(server.admin), await envoyCluster(envoy, CLUSTER)];
  const failures = (await stop())?.failures ?? 0;
  const pushes = xdsAfter.pushes - xdsBefore.pushes;
  const cpuMs = usageAfter.cpuMs - usageBefore.cpuMs;
  return {
    pushes,
    applied: clusterAfter.success - clusterBefore.success,
    rejected: clusterAfter.rejected - clusterBefore.rejected,
    envoyCpuPercent: cpuMs / (PHASE_SECONDS * 10),
    envoyCpuPerUpdateMs: clusterAfter.success > clusterBefore.success ? cpuMs / (clusterAfter.success - clusterBefore.success) : NaN,
    ackP50Ms: quantileBound(xdsBefore.buckets, xdsAfter.buckets, 0.5),
    ackP99Ms: quantileBound(xdsBefore.buckets, xdsAfter.buckets, 0.99),
    envoyRssMiB: usageAfter.rssMiB,
    members: clusterAfter.members,
    failures,
  };
}

async function main() {
  const server = await startMetaroute();
  const t0 = performance.now();
  for (let from = 0; from < INSTANCES; from += BATCH) {
    await post(server.admin, '/v1/instances/batch', { register: Array.from({ length: Math.min(BATCH, INSTANCES - from) }, (_, k) => instance(from + k)) });
  }
  console.log(`${INSTANCES} instances registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const t1 = performance.now();
  const envoy = await startAdsEnvoy(server.xdsPort, OUT);
  children.push(envoy.child);
  await waitFor(`Envoy to hold ${INSTANCES} endpoints of ${CLUSTER}`, async () => (await envoyCluster(envoy, CLUSTER)).members === INSTANCES, 120_000);
  console.log(`Envoy holds all ${INSTANCES} endpoints ${((performance.now() - t1) / 1000).toFixed(1)} s after it started; Envoy RSS ${fmt(usage(envoy.pid).rssMiB, 0)} MiB`);

  const phases = ['idle', 'churn'];
  const results = { idle: [], churn: [] };
  for (let round = 0; round < ROUNDS; round++) for (const p of phases) results[p].push(await phase(server, envoy, p, round));

  console.log(`\n${CLUSTER}: ${INSTANCES} endpoints, Envoy 1.40 (--concurrency 1) on metaroute's ADS; ${ROUNDS} rounds of ${PHASE_SECONDS} s phases, alternated; min / median / max over rounds; ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log('| phase | EDS pushes | updates Envoy applied | rejected | Envoy CPU % of a core | Envoy CPU ms per update applied | version to ACK p50 ms (bucket bound) | p99 ms | Envoy RSS MiB | endpoints in Envoy at the end | churn calls failed |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const p of phases) {
    const r = results[p];
    const col = (k) => triple(r.map((x) => x[k]));
    console.log(`| ${p} | ${col('pushes')} | ${col('applied')} | ${col('rejected')} | ${col('envoyCpuPercent')} | ${col('envoyCpuPerUpdateMs')} | ${col('ackP50Ms')} | ${col('ackP99Ms')} | ${col('envoyRssMiB')} | ${col('members')} | ${r.reduce((a, x) => a + x.failures, 0)} |`);
  }
}

/** Stops every child and waits for them: the server's exit handler still reads its log in OUT. */
async function stopAll() {
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.all(running.map((child) => new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  })));
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    fs.rmSync(OUT, { recursive: true, force: true });
  });
