// bench/registry/batch-stalls.js: how long one admin batch call holds the server's event loop.
// Starts `metaroute serve` (bench/registry/probe.js preloaded, the embedded store in a temp data
// directory), loads INSTANCES into one service by batch (2,000 per call), then sends, one at a
// time with the server otherwise idle, each kind of call:
//   replace-N   POST /v1/instances/batch, N existing instances with changed labels
//   new-N       POST /v1/instances/batch, N instances not registered before
//   services-N  POST /v1/instances/batch, N instances not registered before, each in a service of
//               its own not registered before (N new clusters)
//   heartbeat-N POST /v1/heartbeats, N registered instances (at most 10,000 per call)
//   takeover-N  (STORE=etcd) POST /v1/heartbeats to a second replica on the same etcd, for N
//               instances no call has sent it before (from the top of the range): each takes the
//               N liveness keys over from the replica that registered them; the second replica's
//               event loop is the one measured
// and asks the probe, around each call (and 300 ms after its answer, for work it set off), for
// the longest event-loop delay (monitorEventLoopDelay, 1 ms resolution) and the longest stall's
// own share (not waiting for a core). With several builds (DISTS=/old/dist,/new/dist) it starts
// one server per build per round, alternating (A, B, A, B ...), and prints min / median / max of
// the longest stall per call kind and build.
// Usage: npm run build; node bench/registry/batch-stalls.js
// Env: INSTANCES (100000), ROUNDS (3), CALLS (per kind per round, 3), DISTS (comma-separated
// builds, default ./dist), KINDS (e.g. replace-2000,heartbeat-10000), CPU_PROF_DIR (the servers
// write --cpu-prof there, every PROF_INTERVAL µs, default 100: finer samples slow the server more)
// with PROBE_STALLS_OUT (the probe's stalls, for bench/registry/stall-profile.js), TOKEN=1 (calls carry a registration token whose scope
// is checked per entry: the big service, any label value, hosts in 10.0.0.0/8; no maxInstances,
// whose count is another matter, see docs/PERFORMANCE.md), STORE=etcd (the servers on a one-member
// etcd on loopback, ETCD_BIN or PATH; each build's pair of replicas under a prefix of its own; default
// embedded), SERVICES (the instances spread over that many services, each its own cluster:
// a call then changes as many clusters as entries; default 1, the service `big`), ENVOY=1 (a real Envoy 1.40, `npm run envoy:install`, subscribed over ADS to the
// service's cluster, whose rule gives it a subset load balancer: the pushes a call sets off, and
// Envoy applying them on the same cores, count; without it no xDS client subscribes).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { startProbedServer } = require('../probed-server');
const { ETCD_BIN, startEtcd, waitFor } = require('../serving');
const { instance } = require('./admin');
const { envoyCluster, startAdsEnvoy } = require('../envoy/ads-envoy');
const { triple } = require('./stats');

const ROOT = path.join(__dirname, '..', '..');
const DISTS = (process.env.DISTS ?? path.join(ROOT, 'dist')).split(',').map((d) => path.resolve(d));
const INSTANCES = Number(process.env.INSTANCES ?? 100000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CALLS = Number(process.env.CALLS ?? 3);
const LOAD_BATCH = 2000;
const SERVICES = Number(process.env.SERVICES ?? 1);
const KINDS = (process.env.KINDS ?? 'replace-2000,replace-4000,new-2000,new-4000,heartbeat-2000,heartbeat-5000,heartbeat-10000').split(',');
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-batch-stalls-'));
const TOKEN = process.env.TOKEN === '1' ? 'batch-stalls-0123456789abcdef' : undefined;
const STORE = process.env.STORE ?? 'embedded';
if (STORE !== 'embedded' && STORE !== 'etcd') throw new Error(`STORE=${STORE}: embedded or etcd`);
if (STORE === 'etcd' && !ETCD_BIN) throw new Error('STORE=etcd needs etcd (ETCD_BIN or PATH; apt-get install etcd-server)');
if (STORE !== 'etcd' && KINDS.some((k) => k.startsWith('takeover-'))) throw new Error('takeover-N calls need STORE=etcd');

/** `store` is the config file's store section (etcd), or undefined (embedded). */
async function startServer(dist, name, store) {
  const rules = path.join(OUT, 'rules.yaml');
  fs.writeFileSync(rules, 'rules:\n  - name: split\n    service: big\n    destinations: [{ name: gray, labels: { version: gray }, weight: 50 }, { name: stable, labels: { version: stable }, weight: 50 }]\n');
  const prof = process.env.CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-interval', process.env.PROF_INTERVAL ?? '100', '--cpu-prof-dir', process.env.CPU_PROF_DIR, '--cpu-prof-name', `${name}.cpuprofile`] : [];
  const config = path.join(OUT, `${name}-config.json`);
  fs.writeFileSync(config, JSON.stringify({ ...(TOKEN && { auth: { tokens: [{ token: TOKEN, services: ['big'], optionalLabels: { '*': ['*'] }, addresses: ['10.0.0.0/8'] }] } }), ...(store && { store }) }));
  return startProbedServer({ dist, args: ['--config', config], execArgv: prof, env: { METAROUTE_RULES_FILE: rules }, dataDir: path.join(OUT, `${name}-data`), logPath: path.join(OUT, `${name}.log`) });
}

/** POST as the bench's token, if any. */
async function call(admin, urlPath, body) {
  const res = await fetch(`${admin}${urlPath}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(TOKEN && { authorization: `Bearer ${TOKEN}` }) }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${urlPath}: ${res.status} ${text.slice(0, 300)}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Instance i's service: `big`, or with SERVICES > 1 one of `big-0` ... spread round robin (each its own cluster). */
const serviceOf = (i) => (SERVICES > 1 ? `big-${i % SERVICES}` : 'big');
const ref = (i) => ({ service: serviceOf(i), id: `i${i}` });
const member = (i, version) => ({ ...instance(i, version), service: serviceOf(i) });

/** The body of one call of `kind`; `call` numbers the calls of a server so each differs from the last. */
function callOf(kind, call, state) {
  const [what, n] = [kind.slice(0, kind.lastIndexOf('-')), Number(kind.slice(kind.lastIndexOf('-') + 1))];
  const from = (call * n) % (INSTANCES - n);
  if (what === 'replace') return { path: '/v1/instances/batch', body: { register: Array.from({ length: n }, (_, k) => ({ ...member(from + k, call % 2 ? 'stable' : 'gray'), metadata: { version: call % 2 ? 'stable' : 'gray', user: `u${from + k}-${call}` } })) } };
  if (what === 'new') {
    const start = state.next;
    state.next += n;
    return { path: '/v1/instances/batch', body: { register: Array.from({ length: n }, (_, k) => member(start + k)) } };
  }
  if (what === 'services') {
    const start = state.next;
    state.next += n;
    return { path: '/v1/instances/batch', body: { register: Array.from({ length: n }, (_, k) => ({ ...instance(start + k), service: `fresh-${start + k}` })) } };
  }
  if (what === 'heartbeat') return { path: '/v1/heartbeats', body: { instances: Array.from({ length: n }, (_, k) => ref(from + k)) } };
  if (what === 'takeover') {
    state.takenOver += n;
    return { path: '/v1/heartbeats', body: { instances: Array.from({ length: n }, (_, k) => ref(INSTANCES - state.takenOver + k)) }, other: true };
  }
  throw new Error(`unknown kind ${kind}`);
}

async function measureBuild(dist, name, results, etcd) {
  const store = etcd && { kind: 'etcd', endpoints: [etcd.endpoint], prefix: `/bench/${name}/` };
  const server = await startServer(dist, name, store);
  let other;
  let envoy;
  try {
    const t0 = performance.now();
    for (let from = 0; from < INSTANCES; from += LOAD_BATCH) {
      await call(server.admin, '/v1/instances/batch', { register: Array.from({ length: Math.min(LOAD_BATCH, INSTANCES - from) }, (_, k) => member(from + k)) });
    }
    console.error(`${name}: ${INSTANCES} loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (process.env.ENVOY === '1') {
      const dir = fs.mkdtempSync(path.join(OUT, `${name}-envoy-`));
      envoy = await startAdsEnvoy(server.xdsPort, dir);
      const last = `${serviceOf(INSTANCES - 1)}.default`; // the last cluster Envoy learns of, with its share of the instances
      await waitFor(`Envoy to hold the ${INSTANCES} endpoints`, async () => ((await envoyCluster(envoy, last)).members === Math.ceil(INSTANCES / SERVICES) ? true : undefined), 120_000);
    }
    await sleep(2000);
    if (KINDS.some((k) => k.startsWith('takeover-'))) other = await startServer(dist, `${name}-other`, store);
    const state = { next: INSTANCES + 1_000_000, takenOver: 0 };
    let sent = 0;
    for (const kind of KINDS) {
      for (let c = 0; c < CALLS; c++) {
        const { path: urlPath, body, other: toOther } = callOf(kind, sent++, state);
        const target = toOther ? other : server;
        await sleep(300); // the body is built in this process; the server is idle
        await target.stats(); // starts the probe's figures over
        const t = performance.now();
        await call(target.admin, urlPath, body);
        const ms = performance.now() - t;
        await sleep(300);
        const s = await target.stats();
        (results[kind] ??= []).push({ loopMaxMs: s.loopMaxMs, ownMaxMs: s.ownMaxMs, callMs: ms });
      }
    }
  } finally {
    envoy?.child.kill('SIGKILL');
    await Promise.all([server.stop(), other?.stop()]);
  }
}

async function main() {
  const results = DISTS.map(() => ({}));
  const etcd = STORE === 'etcd' ? await startEtcd(OUT) : undefined;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (let b = 0; b < DISTS.length; b++) await measureBuild(DISTS[b], `r${round}-b${b}`, results[b], etcd);
    }
  } finally {
    etcd?.process.kill('SIGKILL');
  }
  console.log(`\nbench/registry/batch-stalls: one call at a time into ${SERVICES > 1 ? `${INSTANCES} instances over ${SERVICES} services` : `a ${INSTANCES}-instance service`}${TOKEN ? ', with a registration token' : ''}${etcd ? ', on etcd' : ''}${process.env.ENVOY === '1' ? ', a real Envoy subscribed' : ''}; ${ROUNDS} rounds x ${CALLS} calls per kind; ms, min / median / max; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  DISTS.forEach((d, b) => console.log(`build ${String.fromCharCode(65 + b)}: ${d}`));
  console.log(`\n| call | ${DISTS.map((_, b) => `${String.fromCharCode(65 + b)} max loop delay | ${String.fromCharCode(65 + b)} own share | ${String.fromCharCode(65 + b)} call`).join(' | ')} |`);
  console.log(`|---|${DISTS.map(() => '---:|---:|---:').join('|')}|`);
  for (const kind of KINDS) {
    const cells = results.map((r) => [triple(r[kind].map((x) => x.loopMaxMs), 1), triple(r[kind].map((x) => x.ownMaxMs), 1), triple(r[kind].map((x) => x.callMs), 0)].join(' | '));
    console.log(`| ${kind} | ${cells.join(' | ')} |`);
  }
  fs.rmSync(OUT, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
