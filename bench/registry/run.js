// bench/registry: metaroute under registry churn, measured the way the issue asks.
//  1. Registers INSTANCES (default 100,000) into one service by batch (POST /v1/instances/batch,
//     2,000 per call: a body JSON.parse stays near 4 ms) and reports the time.
//  2. Drives ext_proc at a fixed moderate rate (RATE req/s, one stream per request as Envoy
//     does, from a process of its own: h2load, or with DRIVER=node driver.js) through
//     alternating phases, ROUNDS times:
//     idle, churn (1,000 registrations/s as replacements in the big service + 20,000
//     heartbeats/s in batches, from another process: churn.js), expiry (10,000 ephemeral
//     instances registered without heartbeats expire at once inside the phase).
//  Per phase: client-side ext_proc p50 / p99 / max, and from the server (bench/registry/probe.js,
//  preloaded): max event-loop delay (monitorEventLoopDelay), its longest stalls' own share and
//  CPU, max GC pause, RSS; with `workers: N` the ext_proc workers' too; and the same probe's
//  figures from an idle process run beside the server (idle-process.js): the machine's own stalls.
//  Then per phase the server's scavenges, their pauses in all, its mark-compacts and how much its
//  old generation grew between GCs (what brings the next mark-compact; machine noise hardly moves it).
//  Prints min / median / max over rounds and paired ratios (churn p99 / idle p99 of the same round).
// Needs `npm run build`. Env: INSTANCES, RATE, PHASE_SECONDS, ROUNDS, SERVER_NICE (moves every server thread's nice value by
// this much, e.g. -10), CLIENT_NICE (the ext_proc client's main thread, e.g. -5), CPU_PROF_DIR,
// SERVER_CPUS / CLIENT_CPUS (taskset CPU lists, e.g. 1 and 0: the server on a core the load generators do not use),
// PROBE_STALLS_OUT (a file: the probe appends each phase's stalls for bench/registry/stall-profile.js),
// SERVER_NODE_ARGS (e.g. --trace-gc; the server's stdout is then shown), SERVER_ENV (NAME=value
// pairs, space-separated, for the server only), DIST (another build), DRIVER (h2load, the default, or node),
// ADS=1: an ADS stream subscribes to the big service's ClusterLoadAssignment and ACKs every push
// (as an Envoy routing to it would), so churn costs the server a rebuild per push. At once by
// default (a fast client); ADS_ACK_MS=1500 ACKs that much later, as an Envoy 1.40 applying a
// 100,000-endpoint assignment does (1.3-2.0 s of its CPU, bench/envoy/large-eds.js).
'use strict';
const { execFileSync, fork } = require('node:child_process');
const { envPairs, freePort, untilServingLogged } = require('../serving');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');
const { triple, pairedRatios, percentile, fmt } = require('./stats');
const { instance, post } = require('./admin');
const { h2loadDriver } = require('./h2load-driver');

const ROOT = path.join(__dirname, '..', '..');
const DIST = path.resolve(process.env.DIST ?? path.join(ROOT, 'dist'));
const INSTANCES = Number(process.env.INSTANCES ?? 100000);
const RATE = Number(process.env.RATE ?? 400);
const PHASE_SECONDS = Number(process.env.PHASE_SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BATCH = Number(process.env.BATCH ?? 2000);
const EXPIRING = 10000;
const DRIVER = process.env.DRIVER ?? 'h2load';
const ACK_MS = Number(process.env.ADS_ACK_MS ?? 0);
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-registry-'));

/** Pins every thread of process `pid` to the CPUs of `list` (taskset's syntax), if one is given. */
function pin(pid, list) {
  if (list) execFileSync('taskset', ['--all-tasks', '--pid', '--cpu-list', list, String(pid)], { stdio: 'ignore' });
}

/**
 * Moves the nice value of every thread of process `pid` by `by`: its GC helper threads too, which
 * the main thread waits for in a parallel scavenge (setPriority(pid) alone reaches the main thread
 * only); a thread the server runs below the others (its rules worker) stays below them.
 */
function renice(pid, by) {
  for (const tid of fs.readdirSync(`/proc/${pid}/task`).map(Number)) {
    try {
      os.setPriority(tid, Math.max(-20, Math.min(19, os.getPriority(tid) + by)));
    } catch (error) {
      if (error.code !== 'ESRCH') throw error; // a thread that ended meanwhile
    }
  }
  for (const child of childrenOf(pid)) renice(child, by); // ext_proc workers (`workers: N`)
}

function childrenOf(pid) {
  return fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    } catch {
      return []; // a thread that ended meanwhile
    }
  });
}

async function startServer() {
  const ports = { ext: await freePort(), admin: await freePort(), xds: await freePort() };
  const rules = path.join(OUT, 'rules.yaml');
  const logPath = path.join(OUT, 'metaroute.log');
  fs.writeFileSync(rules, 'rules:\n  - name: split\n    service: big\n    destinations: [{ name: gray, labels: { version: gray }, weight: 50 }, { name: stable, labels: { version: stable }, weight: 50 }]\n');
  const child = fork(path.join(DIST, 'cli/main.js'), ['serve'], {
    execArgv: ['-r', path.join(__dirname, 'probe.js'), ...(process.env.CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.CPU_PROF_DIR] : []), ...(process.env.SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env: { ...process.env, ...envPairs(process.env.SERVER_ENV, 'SERVER_ENV'), METAROUTE_EXTPROC_PORT: String(ports.ext), METAROUTE_ADMIN_PORT: String(ports.admin), METAROUTE_XDS_PORT: String(ports.xds), METAROUTE_DATA_DIR: path.join(OUT, 'data'), METAROUTE_RULES_FILE: rules },
    stdio: ['ignore', process.env.SERVER_NODE_ARGS ? 'inherit' : 'ignore', fs.openSync(logPath, 'w'), 'ipc'],
  });
  await untilServingLogged(child, logPath);
  // SERVER_NICE (e.g. -10, needs root): other tenants of a shared machine then do not show up as the server's event-loop delay.
  if (process.env.SERVER_NICE) renice(child.pid, Number(process.env.SERVER_NICE));
  for (const pid of [child.pid, ...childrenOf(child.pid)]) pin(pid, process.env.SERVER_CPUS);
  return { child, admin: `http://127.0.0.1:${ports.admin}`, ext: `127.0.0.1:${ports.ext}`, xds: `127.0.0.1:${ports.xds}`, stats: () => probeStats(child) };
}

/** The probe's figures from `child` since the last call. */
function probeStats(child) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send('stats');
  });
}

/** A process with nothing to do, probed like the server and run like it: how long this machine stalls an idle event loop. */
async function startControl() {
  const child = fork(path.join(__dirname, 'idle-process.js'), [], {
    execArgv: ['-r', path.join(__dirname, 'probe.js')],
    env: { ...process.env, PROBE_STALLS_OUT: '' }, // that file is the server's
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  if (process.env.SERVER_NICE) renice(child.pid, Number(process.env.SERVER_NICE));
  pin(child.pid, process.env.SERVER_CPUS);
  return { stats: () => probeStats(child), close: () => child.connected && child.disconnect() };
}

/** Resolves with the child's next message after `ask()`; rejects if the child exits first. */
function untilAnswer(child, name, ask) {
  return new Promise((resolve, reject) => {
    const exited = (code) => reject(new Error(`${name} exited with ${code} before answering`));
    child.once('exit', exited);
    child.once('message', (message) => {
      child.off('exit', exited);
      resolve(message);
    });
    ask();
  });
}

/** The ext_proc client in its own process(es); `drive(seconds)` resolves with its measurements. */
async function startDriver(ext) {
  if (DRIVER === 'h2load') {
    const h2load = h2loadDriver(ext, OUT, process.env.CLIENT_NICE ? Number(process.env.CLIENT_NICE) : undefined);
    return { drive: (seconds) => h2load.drive(RATE, seconds), close: h2load.close };
  }
  if (DRIVER !== 'node') throw new Error(`DRIVER=${DRIVER}: h2load or node`);
  const driver = fork(path.join(__dirname, 'driver.js'), [ext]);
  try {
    if (process.env.CLIENT_NICE) os.setPriority(driver.pid, Number(process.env.CLIENT_NICE));
  } catch (error) {
    driver.kill();
    throw error;
  }
  const drive = (seconds) => untilAnswer(driver, 'driver.js', () => driver.send({ rate: RATE, seconds }));
  return { drive, close: () => driver.connected && driver.disconnect() };
}

// DiscoveryRequest / DiscoveryResponse, only the fields an ACK needs (the 8 MiB of resources are skipped, not decoded).
const Request = new protobuf.Type('Request').add(new protobuf.Field('version_info', 1, 'string')).add(new protobuf.Field('resource_names', 3, 'string', 'repeated'))
  .add(new protobuf.Field('type_url', 4, 'string')).add(new protobuf.Field('response_nonce', 5, 'string'));
const Response = new protobuf.Type('Response').add(new protobuf.Field('version_info', 1, 'string')).add(new protobuf.Field('type_url', 4, 'string')).add(new protobuf.Field('nonce', 5, 'string'));
const CLA = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

/** An ADS stream subscribed to big.default's endpoints, ACKing every push; counts them. */
function subscribe(xds) {
  const client = new grpc.Client(xds, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }); // a 100,000-endpoint CLA is 8 MiB
  const call = client.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', (b) => b, (b) => b);
  const names = ['big.default'];
  const stats = { pushes: 0 };
  let closed = false;
  call.on('data', (bytes) => {
    const r = Response.decode(bytes);
    stats.pushes++;
    const ack = () => closed || call.write(Buffer.from(Request.encode({ version_info: r.version_info, resource_names: names, type_url: r.type_url, response_nonce: r.nonce }).finish()));
    if (ACK_MS > 0) setTimeout(ack, ACK_MS).unref();
    else ack();
  });
  call.on('error', (e) => { if (e.code !== grpc.status.CANCELLED) console.error('ADS stream failed:', e.message); });
  call.write(Buffer.from(Request.encode({ type_url: CLA, resource_names: names }).finish()));
  return { stats, close: () => { closed = true; call.cancel(); client.close(); } };
}

/**
 * ext_proc streams the server failed or refused so far (its /metrics): h2load sees HTTP 200 for
 * a gRPC error too, so a phase's errors include what these counters gained in it.
 */
async function serverErrors(admin) {
  const text = await (await fetch(`${admin}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('metaroute_extproc_stream_errors_total') || line.startsWith('metaroute_rejected_requests_total')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function phase(server, control, driver, name, round, ads) {
  let stop = async () => 0;
  if (name === 'churn') {
    const churn = fork(path.join(__dirname, 'churn.js'), [server.admin, String(INSTANCES), String(round)]);
    await untilAnswer(churn, 'churn.js', () => undefined); // 'started'
    stop = async () => (await untilAnswer(churn, 'churn.js', () => churn.send('stop'))).failures;
  } else if (name === 'expiry') {
    // Registered just before the phase with a 2 s TTL and never heartbeaten: all expire at about the same moment.
    for (let from = 0; from < EXPIRING; from += BATCH) {
      const register = [];
      for (let i = from; i < from + BATCH; i++) register.push({ service: 'short', id: `r${round}-${i}`, host: '10.200.0.1', port: 1 + i, ttlSeconds: 2 });
      await post(server.admin, '/v1/instances/batch', { register });
    }
  }
  await Promise.all([server.stats(), control.stats()]); // reset the counters: the phase starts now
  const pushesBefore = ads?.stats.pushes ?? 0;
  const serverErrorsBefore = await serverErrors(server.admin);
  const { latencies, errors: clientErrors, loopMaxMs: clientLoopMaxMs } = await driver.drive(PHASE_SECONDS);
  const errors = clientErrors + (await serverErrors(server.admin)) - serverErrorsBefore;
  const pushes = (ads?.stats.pushes ?? 0) - pushesBefore;
  const failures = await stop();
  const [s, c] = await Promise.all([server.stats(), control.stats()]);
  return { cpuPercent: (100 * s.cpuMs) / (1000 * PHASE_SECONDS), mainCpuPercent: (100 * s.mainCpuMs) / (1000 * PHASE_SECONDS), p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies[latencies.length - 1], errors: errors + failures, pushes, clientLoopMaxMs, ...s, ...workersWorst(s.workers), controlLoopMaxMs: c.loopMaxMs, controlOwnMaxMs: c.ownMaxMs };
}

/** With `workers: N` (SERVER_ENV=METAROUTE_WORKERS=N): the worst of the ext_proc workers' figures, the threads that serve ext_proc then. */
function workersWorst(workers) {
  if (!workers?.length) return {}; // no workers, or none answered
  const worst = (k) => Math.max(...workers.map((w) => w[k]));
  return { workerLoopMaxMs: worst('loopMaxMs'), workerJsMaxMs: worst('jsMaxMs'), workerCpuMaxMs: worst('cpuMaxMs'), workerWaitMs: worst('waitInGapsMs'), workerGcMaxMs: worst('gcMaxMs'), workerRssMiB: workers.reduce((sum, w) => sum + w.rssMiB, 0) };
}

async function main() {
  const server = await startServer();
  pin(process.pid, process.env.CLIENT_CPUS); // the driver and churn.js, forked from here from now on, inherit it
  let driver;
  let control;
  try {
    control = await startControl();
    driver = await startDriver(server.ext);
    await server.stats();
    const t0 = performance.now();
    for (let from = 0; from < INSTANCES; from += BATCH) {
      const register = [];
      for (let i = from; i < Math.min(INSTANCES, from + BATCH); i++) register.push(instance(i));
      await post(server.admin, '/v1/instances/batch', { register });
    }
    const loadSeconds = (performance.now() - t0) / 1000;
    const load = await server.stats();
    console.log(`\nbench/registry: ${INSTANCES} instances registered by batch (${BATCH} per call) in ${loadSeconds.toFixed(2)} s (${fmt(INSTANCES / loadSeconds, 0)}/s); during the load: max event-loop delay ${fmt(load.loopMaxMs)} ms (longest stall of its own: ${fmt(load.ownMaxMs)} ms, outside GC pauses: ${fmt(load.jsMaxMs)} ms), max GC pause ${fmt(load.gcMaxMs)} ms, RSS ${fmt(load.rssMiB, 0)} MiB`);

    const ads = process.env.ADS ? subscribe(server.xds) : undefined;
    await driver.drive(1); // warm-up
    const phases = ['idle', 'churn', 'expiry'];
    const results = Object.fromEntries(phases.map((p) => [p, []]));
    for (let round = 0; round < ROUNDS; round++) for (const p of phases) results[p].push(await phase(server, control, driver, p, round, ads));

    console.log(`\next_proc at ${RATE} req/s, ${PHASE_SECONDS} s phases, ${ROUNDS} interleaved rounds (idle, churn, expiry, ...); min / median / max over rounds; ${os.cpus().length} cores; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}${ads ? `; an ADS stream subscribed to the big service, ACKing ${ACK_MS > 0 ? `${ACK_MS} ms after each push` : 'at once'}` : ''}\n`);
    const workers = results.idle[0].workerLoopMaxMs !== undefined;
    if (workers) console.log('The primary (store, admin, xDS) first; then the ext_proc workers, the worst of them per round.\n');
    console.log(`| phase | p50 ms | p99 ms | max ms | max event-loop delay ms | longest stall of its own ms | of it outside GC, most ms | CPU in a stall outside GC, most ms | waited for a core in stalls, ms | max GC pause ms | max scavenge ms | server CPU %, main thread | all threads | RSS MiB |${DRIVER === 'node' ? " client's max event-loop delay ms |" : ''} errors |${ads ? ' EDS pushes |' : ''}${workers ? ' workers: max event-loop delay ms | of its own outside GC ms | CPU outside GC ms | waited for a core ms | max GC pause ms | RSS MiB, all |' : ''} idle process: max event-loop delay ms | its longest stall ms |`);
    console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|${DRIVER === 'node' ? '---:|' : ''}${ads ? '---:|' : ''}${workers ? '---:|---:|---:|---:|---:|---:|' : ''}---:|---:|`);
    for (const p of phases) {
      const r = results[p];
      const col = (k) => triple(r.map((x) => x[k]));
      console.log(`| ${p} | ${col('p50')} | ${col('p99')} | ${col('max')} | ${col('loopMaxMs')} | ${col('ownMaxMs')} | ${col('jsMaxMs')} | ${col('cpuMaxMs')} | ${col('waitInGapsMs')} | ${col('gcMaxMs')} | ${col('scavengeMaxMs')} | ${col('mainCpuPercent')} | ${col('cpuPercent')} | ${col('rssMiB')} |${DRIVER === 'node' ? ` ${col('clientLoopMaxMs')} |` : ''} ${r.reduce((a, x) => a + x.errors, 0)} |${ads ? ` ${col('pushes')} |` : ''}${workers ? ` ${col('workerLoopMaxMs')} | ${col('workerJsMaxMs')} | ${col('workerCpuMaxMs')} | ${col('workerWaitMs')} | ${col('workerGcMaxMs')} | ${col('workerRssMiB')} |` : ''} ${col('controlLoopMaxMs')} | ${col('controlOwnMaxMs')} |`);
    }
    console.log('\nGC per phase (the server\'s main thread): scavenges, their pauses in all, mark-compacts, and how much the old generation grew between GCs (promotions and large objects: what brings the next mark-compact)\n');
    console.log('| phase | scavenges | scavenge pauses ms, all | mark-compacts | old generation growth MiB |');
    console.log('|---|---:|---:|---:|---:|');
    for (const p of phases) {
      const col = (k) => triple(results[p].map((x) => x[k]));
      console.log(`| ${p} | ${col('scavengeCount')} | ${col('scavengeTotalMs')} | ${col('majorCount')} | ${col('oldGrowthMiB')} |`);
    }
    const idleP99 = results.idle.map((x) => x.p99);
    for (const p of ['churn', 'expiry']) console.log(`\n${p} p99 / idle p99 (paired by round): ${triple(pairedRatios(idleP99, results[p].map((x) => x.p99)))} (goal: at most 2)`);
    ads?.close();
  } finally {
    driver?.close();
    control?.close();
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    fs.rmSync(OUT, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
