// bench/registry/scale.js: ext_proc throughput at LARGE ephemeral instances (default 1,000,000)
// against SMALL (default 100), in the same run, interleaved: two `metaroute serve` processes
// (probe.js preloaded) with the same rule, one holding each registry; then ROUNDS times, each
// driven in turn (small, large, small, large ...) by a closed loop of CONCURRENCY streams (one
// per request, as Envoy opens them) for SECONDS. Prints req/s, server CPU µs per request
// (/proc/<pid>/stat, user + system), RSS and the heap's share of it, min / median / max, and the paired ratios
// large/small. CPU per request is the figure a loaded machine disturbs least. Before that, per server,
// what its load cost: time, young and full GCs, RSS right after it and at its peak.
// Needs `npm run build`. Env: LARGE, SMALL, SECONDS, ROUNDS, CONCURRENCY, BATCH, SERVER_NODE_ARGS (flags for both servers),
// DIST (another build, e.g. to compare memory before and after a change).
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const grpc = require('@grpc/grpc-js');
const { freePort, untilServing } = require('../serving');
const { requestMessage } = require('./request');
const { triple, pairedRatios } = require('./stats');

const ROOT = path.join(__dirname, '..', '..');
const DIST = path.resolve(process.env.DIST ?? path.join(ROOT, 'dist'));
const LARGE = Number(process.env.LARGE ?? 1000000);
const SMALL = Number(process.env.SMALL ?? 100);
const SECONDS = Number(process.env.SECONDS ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const BATCH = Number(process.env.BATCH ?? 2000);
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-scale-'));
const TICK_US = 1e6 / 100; // /proc/<pid>/stat counts clock ticks of 10 ms

async function post(admin, urlPath, body) {
  const res = await fetch(`${admin}${urlPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`${urlPath}: ${res.status} ${(await res.text()).slice(0, 300)}`);
  await res.text();
}

async function startServer(name, instances) {
  const ports = { ext: await freePort(), admin: await freePort(), xds: await freePort() };
  const dir = path.join(OUT, name);
  fs.mkdirSync(dir);
  const rules = path.join(dir, 'rules.yaml');
  fs.writeFileSync(rules, 'rules:\n  - name: split\n    service: big\n    destinations: [{ name: gray, labels: { version: gray }, weight: 50 }, { name: stable, labels: { version: stable }, weight: 50 }]\n');
  const child = fork(path.join(DIST, 'cli/main.js'), ['serve'], {
    execArgv: ['-r', path.join(__dirname, 'probe.js'), ...(process.env.SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env: { ...process.env, METAROUTE_EXTPROC_PORT: String(ports.ext), METAROUTE_ADMIN_PORT: String(ports.admin), METAROUTE_XDS_PORT: String(ports.xds), METAROUTE_DATA_DIR: path.join(dir, 'data'), METAROUTE_RULES_FILE: rules },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  await untilServing(child);
  const admin = `http://127.0.0.1:${ports.admin}`;
  const loadStarted = performance.now();
  for (let from = 0; from < instances; from += BATCH) {
    const register = [];
    for (let i = from; i < Math.min(instances, from + BATCH); i++) {
      register.push({ service: 'big', id: `i${i}`, host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, metadata: { version: i % 2 ? 'gray' : 'stable', user: `u${i}` }, ttlSeconds: 3600 });
    }
    await post(admin, '/v1/instances/batch', { register });
  }
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const stats = () => new Promise((resolve) => {
    child.once('message', resolve);
    child.send('stats');
  });
  const st = await stats(); // since start: the load
  console.log(`${instances} instances loaded in ${loadSeconds.toFixed(1)} s: ${st.scavengeCount} scavenges, ${st.gcCount - st.scavengeCount} other GC pauses (mark-compact and its incremental steps; all pauses together ${st.gcTotalMs.toFixed(0)} ms, longest ${st.gcMaxMs.toFixed(1)}); RSS ${st.rssMiB.toFixed(0)} MiB right after (heap used ${st.heapUsedMiB.toFixed(0)}), peak ${st.peakRssMiB.toFixed(0)}`);
  const cpuTicks = () => {
    const fields = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  };
  return { name, child, client: new grpc.Client(`127.0.0.1:${ports.ext}`, grpc.credentials.createInsecure()), stats, cpuTicks };
}

/** A closed loop of CONCURRENCY streams for `seconds`; resolves with answered requests and errors. */
function drive(client, message, seconds) {
  return new Promise((resolve) => {
    const until = performance.now() + seconds * 1000;
    let answered = 0;
    let errors = 0;
    let open = 0;
    const one = () => {
      if (performance.now() >= until) {
        if (open === 0) resolve({ answered, errors });
        return;
      }
      open++;
      const call = client.makeBidiStreamRequest('/envoy.service.ext_proc.v3.ExternalProcessor/Process', (b) => b, (b) => b);
      call.on('data', () => answered++);
      call.on('error', () => errors++);
      call.on('close', () => {
        open--;
        one();
      });
      call.write(message);
      call.end();
    };
    for (let i = 0; i < CONCURRENCY; i++) one();
  });
}

async function main() {
  const started = performance.now();
  const small = await startServer('small', SMALL);
  const large = await startServer('large', LARGE);
  console.log(`\nbench/registry/scale: ${SMALL} and ${LARGE} ephemeral instances registered in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const message = requestMessage();
  const results = { small: [], large: [] };
  try {
    for (const s of [small, large]) await drive(s.client, message, 1); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of [small, large]) {
        await s.stats();
        const ticks = s.cpuTicks();
        const t0 = performance.now();
        const { answered, errors } = await drive(s.client, message, SECONDS);
        const seconds = (performance.now() - t0) / 1000;
        const cpuUs = (s.cpuTicks() - ticks) * TICK_US;
        const st = await s.stats();
        results[s.name].push({ rps: answered / seconds, cpuPerReq: cpuUs / Math.max(1, answered), rss: st.rssMiB, heapUsed: st.heapUsedMiB, heapTotal: st.heapTotalMiB, external: st.externalMiB, gc: st.gcMaxMs, own: st.ownMaxMs, errors, load: os.loadavg()[0] });
      }
    }
  } finally {
    for (const s of [small, large]) {
      s.client.close();
      s.child.kill('SIGTERM');
      await new Promise((r) => s.child.once('exit', r));
    }
    fs.rmSync(OUT, { recursive: true, force: true });
  }
  const loads = [...results.small, ...results.large].map((r) => r.load);
  console.log(`${ROUNDS} interleaved rounds of ${SECONDS} s, ${CONCURRENCY} streams in flight; min / median / max; load average (1 min) ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}\n`);
  console.log('| instances | req/s | server CPU µs/req | RSS MiB | heap used MiB | heap reserved MiB | outside the heap MiB | max GC pause ms | longest stall of its own ms | errors |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, n] of [['small', SMALL], ['large', LARGE]]) {
    const r = results[name];
    const col = (k) => triple(r.map((x) => x[k]));
    console.log(`| ${n} | ${col('rps')} | ${col('cpuPerReq')} | ${col('rss')} | ${col('heapUsed')} | ${col('heapTotal')} | ${col('external')} | ${col('gc')} | ${col('own')} | ${r.reduce((a, x) => a + x.errors, 0)} |`);
  }
  const ratio = (k) => triple(pairedRatios(results.small.map((x) => x[k]), results.large.map((x) => x[k])), 3);
  console.log(`\npaired large/small: req/s ${ratio('rps')} (goal: at least 0.9); CPU per request ${ratio('cpuPerReq')}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
