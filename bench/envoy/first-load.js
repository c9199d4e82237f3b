// bench/envoy/first-load.js: what Envoy's clients meet right after metaroute starts under load,
// with metaroute's ext_proc warm-up (`extProc.warmUpStreams`, default 3,000) and without (0).
// One gateway Envoy (the shipped ext_proc filter: fail closed, 200 ms message_timeout) in front
// of a direct-response upstream stays up; each round starts metaroute anew on the ext_proc port
// (the bench world, bench/extproc/fixture.js: 1,000 rules, INSTANCES instances), once per variant
// (A, B, A, B ...), and as soon as it serves h2load sends RATE requests/s through the gateway
// (4 connections) for 3 s. Of the requests started in the first second: how many did not answer
// 200 (a 504 is message_timeout passing), p99 and max. Prints min / median / max over rounds
// and paired ratios.
// Env: RATE (3000: this 2-core machine's Envoy tops out near 5,000 with ext_proc), ROUNDS (5),
// INSTANCES (100). Needs `npm run build`, `npm run envoy:install` and h2load.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeFixture, SERVICES } = require('../extproc/fixture');
const { freePort } = require('../serving');
const { startMetaroute } = require('../extproc/servers');
const { triple, pairedRatios, percentile } = require('../registry/stats');
const { runH2load, startedWithin } = require('../h2load');
const { upstreamBootstrap, gatewayBootstrap } = require('./bootstrap');
const { startEnvoy } = require('./envoy-process');

const RATE = Number(process.env.RATE ?? 3000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const INSTANCES = Number(process.env.INSTANCES ?? 100);
const CONNECTIONS = 4;
const DRIVE_SECONDS = 3;
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-envoy-first-load-'));
/** The fixture's last service; its matching rule is the last of ten (bench/extproc/fixture.js). */
const CLUSTER = `svc-${SERVICES - 1}.default`;
const REQUEST = { path: '/api/items?uid=12345&page=2', headers: { 'x-user-role': 'staff' } };

function drive(port, log) {
  return runH2load(['-c', String(CONNECTIONS), '-m', '256', '--rps', String(RATE / CONNECTIONS), '-D', String(DRIVE_SECONDS), '--log-file', log,
    ...Object.entries(REQUEST.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), `http://127.0.0.1:${port}${REQUEST.path}`]);
}

/** The requests started in the log's first second: how many, how many not 200, p99 and max (ms). */
function firstSecond(log) {
  const first = startedWithin(log, 1);
  const ms = first.map((r) => r.ms).sort((a, b) => a - b);
  const statuses = {};
  for (const { status } of first) if (status !== 200) statuses[status] = (statuses[status] ?? 0) + 1;
  return { requests: first.length, failed: first.filter((r) => r.status !== 200).length, statuses, p99: percentile(ms, 0.99), max: ms[ms.length - 1] };
}

async function main() {
  const warm = writeFixture(path.join(OUT, 'world'), INSTANCES);
  const cold = path.join(OUT, 'world', 'config-no-warm-up.json');
  fs.writeFileSync(cold, JSON.stringify({ ...JSON.parse(fs.readFileSync(warm.config, 'utf8')), extProc: { warmUpStreams: 0 } }));
  const extProcPort = await freePort();
  const instances = [{ name: 'gray', port: await freePort() }, { name: 'stable', port: await freePort() }];
  const listenerPort = await freePort();
  const envoys = [
    await startEnvoy(OUT, 'upstream', upstreamBootstrap(await freePort(), instances)),
    await startEnvoy(OUT, 'gateway', gatewayBootstrap({ adminPort: await freePort(), listenerPort, cluster: CLUSTER, instances, extProcPort })),
  ];
  const variants = [{ name: 'warm-up (default)', config: warm.config, runs: [] }, { name: 'no warm-up', config: cold, runs: [] }];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) {
        fs.rmSync(path.join(OUT, 'world', 'data'), { recursive: true, force: true }); // every run starts on an empty store
        const metaroute = await startMetaroute({ ...warm, config: v.config }, { port: extProcPort });
        const log = path.join(OUT, `${v.runs.length}-${v.config === cold ? 'cold' : 'warm'}.log`);
        try {
          await drive(listenerPort, log);
        } finally {
          await metaroute.stop();
        }
        v.runs.push(firstSecond(log));
      }
    }
  } finally {
    for (const envoy of envoys) envoy.child.kill('SIGTERM');
  }
  console.log(`\nbench/envoy/first-load: a gateway Envoy (--concurrency 1, fail closed, 200 ms message_timeout) in front of a metaroute started anew each run (${warm.rules} rules, ${INSTANCES} instances), ${RATE} requests/s through the gateway from its first moment serving (h2load, ${CONNECTIONS} connections); the requests started in the first second; ${ROUNDS} rounds, alternated; ${os.cpus().length} cores; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; min / median / max\n`);
  console.log('| variant | requests | not 200 | p99 ms | max ms |');
  console.log('|---|---:|---:|---:|---:|');
  for (const v of variants) console.log(`| ${v.name} | ${['requests', 'failed', 'p99', 'max'].map((key) => triple(v.runs.map((r) => r[key]))).join(' | ')} |`);
  for (const v of variants) {
    const statuses = {};
    for (const r of v.runs) for (const [status, n] of Object.entries(r.statuses)) statuses[status] = (statuses[status] ?? 0) + n;
    console.log(`${v.name}: not 200 in all rounds ${v.runs.reduce((sum, r) => sum + r.failed, 0)} of ${v.runs.reduce((sum, r) => sum + r.requests, 0)} ${JSON.stringify(statuses)}`);
  }
  const [on, off] = variants;
  console.log('\npaired by round, warm-up / none, min / median / max:');
  for (const key of ['p99', 'max']) console.log(`  first second ${key}: ${triple(pairedRatios(off.runs.map((r) => r[key]), on.runs.map((r) => r[key])))}`);
}

main().then(() => fs.rmSync(OUT, { recursive: true, force: true }), (e) => {
  console.error(e, `\nconfigs and logs: ${OUT}`);
  process.exitCode = 1;
});
