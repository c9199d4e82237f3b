// bench/envoy: what metaroute adds to a request through real Envoy. h2load sends requests
// through one Envoy (--concurrency 1) to a fast upstream (an Envoy answering by
// direct_response), with the gateway Envoy configured
//   (a) without the ext_proc filter (the route names the subset itself),
//   (b) with the shipped ext_proc filter to a no-logic grpc-js server answering a fixed envoy.lb,
//   (c) with the shipped ext_proc filter to metaroute: 1,000 rules, 100 services, 100,000 instances.
// The variants run interleaved (a,b,c,a,b,c,...) for BENCH_ROUNDS rounds; prints req/s, p50 and
// p99 per variant (min/median/max over rounds), the p50/p99 each ext_proc server adds over (a),
// and the paired ratios (c)/(b). Needs `npm run build`, `npm run envoy:install` and h2load
// (Debian package nghttp2-client). Not a test: numbers go to docs/PERFORMANCE.md.
'use strict';
const { execFileSync, fork, spawn } = require('node:child_process');
const { freePort, untilServing } = require('../serving');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeFixture, SERVICES } = require('../extproc/fixture');
const { encodeDecision } = require('../../dist/extproc/responses');
const { upstreamBootstrap, gatewayBootstrap } = require('./bootstrap');
const { ENVOY, startEnvoy: startEnvoyIn } = require('./envoy-process');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const WARMUP_SECONDS = 1;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 8);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 100000);
const ROOT = path.join(__dirname, '..', '..');
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-envoy-'));
/** The fixture's last service; its matching rule is the last of ten (bench/extproc/fixture.js). */
const CLUSTER = `svc-${SERVICES - 1}.default`;
const REQUEST = { path: '/api/items?uid=12345&page=2', headers: { 'x-user-role': 'staff' } };
const children = [];


async function startEnvoy(name, bootstrap) {
  const envoy = await startEnvoyIn(OUT, name, bootstrap);
  children.push(envoy.child);
  return envoy;
}

async function startMetaroute() {
  const fixture = writeFixture(path.join(OUT, 'world'), INSTANCES);
  const port = await freePort();
  const child = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), path.join(ROOT, 'dist/cli/main.js'), 'serve', '--config', fixture.config], {
    env: { ...process.env, METAROUTE_EXTPROC_PORT: String(port) }, stdio: ['ignore', fs.openSync(path.join(OUT, 'metaroute.log'), 'w'), 'pipe'],
  });
  children.push(child);
  await untilServing(child);
  return { port, fixture, pid: child.pid };
}

async function startNoLogicServer() {
  const port = await freePort();
  // The bytes metaroute answers for the benchmark request: envoy.lb plus the rule's name.
  const answer = encodeDecision({ kind: 'subset', labels: { version: 'gray' } }, undefined, `svc-${SERVICES - 1}-rule-9`);
  const child = fork(path.join(__dirname, '..', 'extproc', 'grpc-bare-server.js'), [String(port), answer.toString('base64')]);
  children.push(child);
  await new Promise((r) => child.once('message', r));
  return { port, pid: child.pid };
}

/** One request through the gateway: it must reach an upstream instance (NO_FALLBACK: no envoy.lb, no host). */
async function check(name, port) {
  const res = await fetch(`http://127.0.0.1:${port}${REQUEST.path}`, { headers: REQUEST.headers });
  const instance = res.headers.get('x-instance');
  if (res.status !== 200 || !instance) throw new Error(`${name}: ${res.status} ${await res.text()}`);
  return instance;
}

function h2load(port, logFile) {
  const args = ['-D', String(SECONDS), '--warm-up-time', String(WARMUP_SECONDS), '-c', String(CONNECTIONS), '-m', String(STREAMS),
    '--log-file', logFile, ...Object.entries(REQUEST.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), `http://127.0.0.1:${port}${REQUEST.path}`];
  const out = execFileSync('h2load', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const [, errored] = /requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, \d+ failed, (\d+) errored/.exec(out);
  if (Number(errored) > 0) throw new Error(`h2load: ${errored} requests errored (connection failures)\n${out}`);
  return Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)[1]);
}

/**
 * p50/p99 in ms over every request h2load logged (one line per request: start, status, µs),
 * and how many did not answer 200: a 504 is ext_proc's message_timeout (200 ms) passing.
 */
function latencies(logFile) {
  const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((line) => line.split('\t'));
  const micros = lines.map((l) => Number(l[2])).sort((a, b) => a - b);
  const at = (q) => micros[Math.min(micros.length - 1, Math.floor(q * micros.length))] / 1000;
  return { p50: at(0.5), p99: at(0.99), failed: lines.filter((l) => l[1] !== '200').length, requests: lines.length };
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Requests the gateway Envoy has taken so far (warm-up included, as in the CPU figures). */
async function requestsSeen(admin) {
  const text = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=${encodeURIComponent('^http\\.gateway\\.downstream_rq_total$')}`)).text();
  return Number(/: (\d+)/.exec(text)[1]);
}

/**
 * One h2load run, with the CPU time per request of the gateway Envoy and of the ext_proc
 * server: less disturbed than req/s by the other processes sharing the cores.
 */
async function measure(variant, round) {
  const logFile = path.join(OUT, `${variant.key}-${round}.log`);
  const pids = { envoy: variant.envoy.pid, extProc: variant.extProcPid };
  const before = { requests: await requestsSeen(variant.envoy.admin), envoy: cpuSeconds(pids.envoy), extProc: pids.extProc ? cpuSeconds(pids.extProc) : 0 };
  const rps = h2load(variant.port, logFile);
  const requests = (await requestsSeen(variant.envoy.admin)) - before.requests;
  const micros = (pid, was) => (pid ? ((cpuSeconds(pid) - was) / requests) * 1e6 : 0);
  return { rps, ...latencies(logFile), envoyCpu: micros(pids.envoy, before.envoy), extProcCpu: micros(pids.extProc, before.extProc) };
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => {
  const s = sorted(xs);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const spread = (xs, digits) => {
  const s = sorted(xs);
  return `${median(s).toFixed(digits)} (${s[0].toFixed(digits)}–${s[s.length - 1].toFixed(digits)})`;
};

async function main() {
  const started = Date.now();
  const [metaroute, noLogic] = await Promise.all([startMetaroute(), startNoLogicServer()]);
  console.error(`metaroute loaded ${metaroute.fixture.rules} rules, ${metaroute.fixture.instances} instances in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const instances = [{ name: 'gray', port: await freePort() }, { name: 'stable', port: await freePort() }];
  await startEnvoy('upstream', upstreamBootstrap(await freePort(), instances));
  const variants = [
    { key: 'a', name: '(a) Envoy, no ext_proc', extProcPort: undefined },
    { key: 'b', name: '(b) ext_proc: grpc-js, no logic', extProcPort: noLogic.port, extProcPid: noLogic.pid },
    { key: 'c', name: '(c) ext_proc: metaroute', extProcPort: metaroute.port, extProcPid: metaroute.pid },
  ];
  for (const v of variants) {
    v.port = await freePort();
    v.envoy = await startEnvoy(`gateway-${v.key}`, gatewayBootstrap({ adminPort: await freePort(), listenerPort: v.port, cluster: CLUSTER, instances, extProcPort: v.extProcPort }));
    v.instance = await check(v.name, v.port);
    v.runs = [];
  }

  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) v.runs.push(await measure(v, round));
    console.error(`round ${round + 1}/${ROUNDS}: ${variants.map((v) => `${v.key} ${v.runs[round].rps.toFixed(0)} req/s p50 ${v.runs[round].p50.toFixed(2)} ms${v.runs[round].failed ? ` (${v.runs[round].failed} not 200)` : ''}`).join(', ')}`);
  }

  const [a, b, c] = variants;
  const per = (v, f) => v.runs.map(f);
  const added = (v, key) => v.runs.map((r, i) => r[key] - a.runs[i][key]);
  console.log(`\nbench/envoy: Envoy ${execFileSync(ENVOY, ['--version'], { encoding: 'utf8' }).match(/\/(\d+\.\d+\.\d+)\//)?.[1]} --concurrency 1, h2load ${CONNECTIONS} connections × ${STREAMS} streams (${CONNECTIONS * STREAMS} in flight), ${SECONDS} s per variant per round after ${WARMUP_SECONDS} s warm-up, ${ROUNDS} rounds interleaved, ${os.cpus().length} cores`);
  console.log(`request: GET ${REQUEST.path} x-user-role: staff → ${CLUSTER} (answered by upstream ${c.instance}); metaroute: ${metaroute.fixture.rules} rules, ${metaroute.fixture.instances} instances\n`);
  console.log('median (min–max) over rounds\n');
  console.log('| variant | req/s | p50 ms | p99 ms | p50 added over (a) ms | p99 added over (a) ms | Envoy CPU µs/req | ext_proc server CPU µs/req | not 200 (all rounds) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const v of variants) {
    const extra = v === a ? ['-', '-', spread(per(v, (r) => r.envoyCpu), 0), '-'] : [spread(added(v, 'p50'), 2), spread(added(v, 'p99'), 2), spread(per(v, (r) => r.envoyCpu), 0), spread(per(v, (r) => r.extProcCpu), 0)];
    const failed = `${sum(per(v, (r) => r.failed))} of ${sum(per(v, (r) => r.requests))}`;
    console.log(`| ${v.name} | ${spread(per(v, (r) => r.rps), 0)} | ${spread(per(v, (r) => r.p50), 2)} | ${spread(per(v, (r) => r.p99), 2)} | ${extra.join(' | ')} | ${failed} |`);
  }
  const rpsRatio = c.runs.map((r, i) => r.rps / b.runs[i].rps);
  const addedP50Ratio = added(c, 'p50').map((x, i) => x / added(b, 'p50')[i]);
  const addedP99Ratio = added(c, 'p99').map((x, i) => x / added(b, 'p99')[i]);
  console.log('\npaired per round, (c)/(b):\n');
  console.log('| ratio (c)/(b) | median (min–max) | goal |');
  console.log('|---|---:|---|');
  console.log(`| req/s | ${spread(rpsRatio, 2)} | ≥ 0.85: ${median(rpsRatio) >= 0.85 ? 'met' : 'NOT met'} |`);
  console.log(`| p50 added over (a) | ${spread(addedP50Ratio, 2)} | ≤ 1.2: ${median(addedP50Ratio) <= 1.2 ? 'met' : 'NOT met'} |`);
  console.log(`| p99 added over (a) | ${spread(addedP99Ratio, 2)} | - |`);
  console.log(`| ext_proc server CPU µs/req | ${spread(c.runs.map((r, i) => r.extProcCpu / b.runs[i].extProcCpu), 2)} | - |`);
}

function stopAll() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}

main().then(() => {
  stopAll();
  if (process.env.BENCH_KEEP) console.error(`configs and logs: ${OUT}`);
  else fs.rmSync(OUT, { recursive: true, force: true });
}, (e) => {
  console.error(e, `\nconfigs and logs: ${OUT}`);
  stopAll();
  process.exitCode = 1;
});
