// bench/registry/heartbeats.js: server CPU per heartbeat, one HTTP call per heartbeat
// (PUT /v1/instances/{ns}/{svc}/{id}/heartbeat, 16 in flight, keep-alive) vs batched
// (POST /v1/heartbeats, 2,000 per call), over INSTANCES registered instances; interleaved
// rounds (single, batched, single, ...). Server CPU is user + system from /proc/<pid>/stat.
// STORE=etcd: the server on a one-member etcd on loopback (ETCD_BIN or PATH); the heartbeats
// reach the replica that registered the instances, which holds their liveness keys (it writes
// nothing for them). etcd's CPU per heartbeat and the batched heartbeats' rate (one caller,
// calls in turn) are printed too, and then what heartbeats cost when they reach a second
// replica: its first pass takes every instance over (a put each), the next finds them held.
// SERVER_NODE_ARGS: flags for the server's node (e.g. --cpu-prof --cpu-prof-dir=DIR). DIST: the
// build to serve (default this checkout's dist/), to set another version's beside this one's.
'use strict';
const { execFileSync, fork } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const { ETCD_BIN, freePort, startEtcd } = require('../serving');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { summary, triple, pairedRatios } = require('./stats');

const INSTANCES = Number(process.env.INSTANCES ?? 20000);
const SINGLE = Number(process.env.SINGLE ?? 5000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PER_CALL = 2000;
const STORE = process.env.STORE ?? 'embedded';
const DIST = path.resolve(process.env.DIST ?? path.join(__dirname, '..', '..', 'dist'));
if (STORE !== 'embedded' && STORE !== 'etcd') throw new Error(`STORE=${STORE}: embedded or etcd`);
if (STORE === 'etcd' && !ETCD_BIN) throw new Error('STORE=etcd needs etcd (ETCD_BIN or PATH; apt-get install etcd-server)');
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-heartbeats-'));
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const cpuSeconds = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
};
const etcdCpu = (etcd) => (etcd ? cpuSeconds(etcd.process.pid) : 0);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function call(port, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${urlPath}: ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  let etcd;
  let server;
  try {
    etcd = STORE === 'etcd' ? await startEtcd(OUT) : undefined;
    server = await startServer(etcd, 'a');
    await measure(server.child, server.ports, etcd);
    if (etcd) await measureTakeover(etcd);
  } finally {
    agent.destroy();
    await stop(server?.child);
    await stop(etcd?.process);
    fs.rmSync(OUT, { recursive: true, force: true });
  }
}

/** SIGTERM, then resolves once it has exited (at once if it already has, or never started). */
function stop(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once('exit', resolve);
    proc.kill('SIGTERM');
  });
}

/** metaroute on the embedded store, or on `etcd`; resolves once it serves, rejects if it exits first. */
async function startServer(etcd, name) {
  const ports = { admin: await freePort(), ext: await freePort(), xds: await freePort() };
  const child = fork(path.join(DIST, 'cli', 'main.js'), ['serve'], {
    execArgv: (process.env.SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean), // e.g. --cpu-prof --cpu-prof-dir=DIR
    env: { ...process.env, METAROUTE_ADMIN_PORT: String(ports.admin), METAROUTE_EXTPROC_PORT: String(ports.ext), METAROUTE_XDS_PORT: String(ports.xds), METAROUTE_DATA_DIR: path.join(OUT, `data-${name}`), ...(etcd && { METAROUTE_ETCD_ENDPOINTS: etcd.endpoint }) },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  await new Promise((resolve, reject) => {
    let log = '';
    child.stderr.on('data', (d) => { log += d; if (log.includes('metaroute serving')) resolve(); });
    child.once('exit', (code) => reject(new Error(`metaroute exited with ${code} before serving:\n${log}`)));
  });
  return { child, ports };
}

async function measure(child, ports, etcd) {
  for (let from = 0; from < INSTANCES; from += PER_CALL) {
    const register = [];
    for (let i = from; i < Math.min(INSTANCES, from + PER_CALL); i++) register.push({ service: 'pods', id: `p${i}`, host: '10.9.0.1', port: 1 + i, ttlSeconds: 3600 });
    await call(ports.admin, 'POST', '/v1/instances/batch', { register });
  }
  const micros = { single: [], batched: [] };
  const etcdMicros = { single: [], batched: [] };
  const batchedPerSecond = [];
  for (let round = 0; round < ROUNDS; round++) {
    const cpu = cpuSeconds(child.pid);
    const cpuEtcd = etcdCpu(etcd);
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < SINGLE) {
        const i = next++;
        await call(ports.admin, 'PUT', `/v1/instances/default/pods/p${i % INSTANCES}/heartbeat`);
      }
    }));
    micros.single.push(((cpuSeconds(child.pid) - cpu) / SINGLE) * 1e6);
    etcdMicros.single.push(((etcdCpu(etcd) - cpuEtcd) / SINGLE) * 1e6);
    const batched = await batchedPass(child, ports, etcd);
    batchedPerSecond.push(batched.perSecond);
    micros.batched.push(batched.micros);
    etcdMicros.batched.push(batched.etcdMicros);
  }
  console.log(`\nbench/registry/heartbeats: server CPU µs per heartbeat, ${INSTANCES} instances, the ${STORE} store, ${ROUNDS} interleaved rounds; min / median / max\n`);
  console.log(`| form | µs per heartbeat |${etcd ? " etcd's CPU µs per heartbeat |" : ''}\n|---|---:|${etcd ? '---:|' : ''}`);
  console.log(`| PUT …/heartbeat, one per call (${SINGLE} per round) | ${triple(micros.single)} |${etcd ? ` ${triple(etcdMicros.single)} |` : ''}`);
  console.log(`| POST /v1/heartbeats, ${PER_CALL} per call | ${triple(micros.batched)} |${etcd ? ` ${triple(etcdMicros.batched)} |` : ''}`);
  console.log(`\nbatched heartbeats/s, one caller, calls in turn: ${triple(batchedPerSecond, 0)}`);
  console.log(`\nbatched / single, paired: ${triple(pairedRatios(micros.single, micros.batched), 3)}`);
  const perCore = 1e6 / summary(micros.batched).median;
  console.log(`so one core of the server's absorbs about ${Math.round(perCore).toLocaleString('en')} batched heartbeats/s (median)${etcd ? ", with etcd's CPU on top" : ''}`);
}

/** Every instance's heartbeat, PER_CALL per call, one call at a time: CPU µs per heartbeat of the server and etcd, and the rate. */
async function batchedPass(child, ports, etcd) {
  const cpu = cpuSeconds(child.pid);
  const cpuEtcd = etcdCpu(etcd);
  const t0 = performance.now();
  for (let from = 0; from < INSTANCES; from += PER_CALL) {
    const instances = [];
    for (let i = from; i < Math.min(INSTANCES, from + PER_CALL); i++) instances.push({ service: 'pods', id: `p${i}` });
    const answer = JSON.parse(await call(ports.admin, 'POST', '/v1/heartbeats', { instances }));
    if (answer.unknown?.length) throw new Error(`${answer.unknown.length} heartbeats of known instances answered unknown`);
  }
  return { perSecond: INSTANCES / ((performance.now() - t0) / 1000), micros: ((cpuSeconds(child.pid) - cpu) / INSTANCES) * 1e6, etcdMicros: ((etcdCpu(etcd) - cpuEtcd) / INSTANCES) * 1e6 };
}

/** A second replica on the same etcd: its first batched pass takes every instance over, its second finds them held. */
async function measureTakeover(etcd) {
  const other = await startServer(etcd, 'b');
  try {
    const first = await batchedPass(other.child, other.ports, etcd);
    const second = await batchedPass(other.child, other.ports, etcd);
    console.log(`
the same heartbeats reaching a second replica (one pass each, ${PER_CALL} per call):
`);
    console.log("| pass | µs per heartbeat | etcd's CPU µs per heartbeat | heartbeats/s |\n|---|---:|---:|---:|");
    for (const [name, pass] of [['first: takes each instance over', first], ['second: held there', second]]) {
      console.log(`| ${name} | ${pass.micros.toFixed(1)} | ${pass.etcdMicros.toFixed(1)} | ${Math.round(pass.perSecond)} |`);
    }
  } finally {
    await stop(other.child);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
