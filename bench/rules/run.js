// bench/rules: rule documents are parsed and validated off the routing thread.
// (1) CPU to refuse or accept hostile and large documents (RulesChecker, in its worker).
// (2) ext_proc latency while such documents are PUT over and over, against idle, interleaved
//     idle, busy, idle, busy... over several rounds: p50/p99/max per phase and the p99 ratio.
// Needs `npm run build`. About a minute.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { App } = require('../../dist/app/app');
const { DEFAULTS } = require('../../dist/config/config');
const { RulesChecker } = require('../../dist/app/rules-checker');
const { envoyRoot } = require('../../dist/protos/root');
const { createLogger } = require('../../dist/log/logger');
const { heavyRules } = require('./documents');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 4000);

const DOCUMENTS = {
  'valid, 1,500 rules (580 KB)': heavyRules(1500),
  'valid, 1,000 rules (390 KB)': heavyRules(1000),
  '60,000-key mapping (700 KB)': 'x:\n' + Array.from({ length: 60000 }, (_, k) => `  k${k}: 1`).join('\n'),
  '1 MiB of "["': '['.repeat(1024 * 1024),
  '100,001-item flow list': `rules: [${'1,'.repeat(100000)}1]`,
  '1 MiB comment': '#' + 'x'.repeat(1024 * 1024 - 1),
  'regex a{1000} x100': `rules:\n  - { name: r, service: s, sources: [{ arguments: [{ type: header, key: x, match: { type: REGEX, value: '${'a{1000}'.repeat(100)}' } }] }], destinations: [{ name: d, labels: { v: a } }] }\n`,
};

async function checkerCosts() {
  const checker = new RulesChecker(60_000);
  await checker.check('rules: []\n', 'warm');
  console.log('document                          outcome                                   CPU ms (min/median/max of 3)');
  for (const [name, text] of Object.entries(DOCUMENTS)) {
    const cpu = [];
    let outcome = '';
    for (let i = 0; i < 3; i++) {
      const before = process.cpuUsage();
      const result = await checker.check(text, 'rules.yaml');
      const used = process.cpuUsage(before);
      cpu.push((used.user + used.system) / 1000);
      outcome = result.ok ? 'accepted' : result.errors[0].message.slice(0, 40);
    }
    cpu.sort((a, b) => a - b);
    console.log(`${name.padEnd(34)}${outcome.padEnd(42)}${cpu.map((c) => c.toFixed(0)).join(' / ')}`);
  }
  await checker.close();
}

function frame() {
  const T = envoyRoot().lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
  const headers = { ':method': 'GET', ':path': '/', ':authority': 'shop', ':scheme': 'http', 'x-user-role': 'staff' };
  return Buffer.from(T.encode(T.fromObject({ request_headers: { headers: { headers: Object.entries(headers).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) }, end_of_stream: true } })).finish());
}

/** Requests one at a time for `ms`, each a fresh ext_proc stream as Envoy opens per HTTP request; latencies in ms. */
async function measure(client, body, ms) {
  const latencies = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const start = process.hrtime.bigint();
    await new Promise((resolve, reject) => {
      const call = client.makeBidiStreamRequest('/envoy.service.ext_proc.v3.ExternalProcessor/Process', (b) => b, (b) => b);
      call.on('data', () => call.end());
      call.on('error', reject);
      call.on('end', resolve);
      call.write(body);
    });
    latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return latencies.sort((a, b) => a - b);
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function latencyUnderRuleChurn() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-rules-'));
  const app = await App.start({ ...DEFAULTS, ports: { extProc: 0, xds: 0, admin: 0 }, dataDir }, createLogger('warn'));
  const admin = `http://127.0.0.1:${app.ports.admin}`;
  await fetch(`${admin}/v1/instances`, { method: 'POST', body: JSON.stringify({ service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'gray' } }) });
  await fetch(`${admin}/v1/rules`, { method: 'PUT', body: heavyRules(1) });
  const client = new grpc.Client(`127.0.0.1:${app.ports.extProc}`, grpc.credentials.createInsecure());
  const body = frame();
  await measure(client, body, 500); // warm up
  const hostile = Object.values(DOCUMENTS);
  // Made before the phases: generating 400 KB of JSON is the bench's work, not metaroute's, and runs on this same event loop.
  const valid = Array.from({ length: 7 }, (_, k) => heavyRules(1000 + k));
  const rows = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Event-loop delay (10 ms resolution) tells time the loop was blocked from time the machine gave to other threads.
    const loop = { idle: monitorEventLoopDelay({ resolution: 10 }), busy: monitorEventLoopDelay({ resolution: 10 }) };
    loop.idle.enable();
    const idle = await measure(client, body, PHASE_MS);
    loop.idle.disable();
    loop.busy.enable();
    let stop = false;
    let puts = 0;
    const churn = (async () => {
      for (let i = 0; !stop; i++) {
        // Alternate a large valid document (so each one is compiled and swapped in) with hostile ones.
        const text = i % 2 === 0 ? valid[i % 7] : hostile[i % hostile.length];
        await fetch(`${admin}/v1/rules`, { method: 'PUT', body: text });
        puts++;
      }
    })();
    const busy = await measure(client, body, PHASE_MS);
    stop = true;
    await churn;
    loop.busy.disable();
    rows.push({ idle, busy, puts });
    console.log(`round ${round + 1}: idle p50 ${pct(idle, 0.5).toFixed(2)} p99 ${pct(idle, 0.99).toFixed(2)} max ${idle[idle.length - 1].toFixed(1)} ms (${idle.length} req) | ` +
      `during ${puts} rule PUTs p50 ${pct(busy, 0.5).toFixed(2)} p99 ${pct(busy, 0.99).toFixed(2)} max ${busy[busy.length - 1].toFixed(1)} ms (${busy.length} req) | p99 ratio ${(pct(busy, 0.99) / pct(idle, 0.99)).toFixed(2)}`);
    const ms = (ns) => (ns / 1e6).toFixed(0);
    console.log(`         event-loop delay: idle p99 ${ms(loop.idle.percentile(99))} max ${ms(loop.idle.max)} ms | busy p99 ${ms(loop.busy.percentile(99))} max ${ms(loop.busy.max)} ms`);
  }
  const ratios = rows.map((r) => pct(r.busy, 0.99) / pct(r.idle, 0.99)).sort((a, b) => a - b);
  console.log(`p99 busy/idle over ${ROUNDS} rounds: min ${ratios[0].toFixed(2)} median ${ratios[Math.floor(ratios.length / 2)].toFixed(2)} max ${ratios[ratios.length - 1].toFixed(2)}`);
  client.close();
  await app.stop();
}

(async () => {
  console.log(`bench/rules (${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)})`);
  await checkerCosts();
  await latencyUnderRuleChurn();
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
