// bench/extproc/split.js: what the console's live split (DecisionSplit.record, two Map
// lookups and an increment per decision) adds to an ext_proc answer. In process, no network:
// ExtProcService.answer on Envoy-shaped request frames (a header rule picks v2, else v1),
// with and without a DecisionSplit, in interleaved rounds (A, B, A, B...). Prints ns per
// answer (min / median / max over rounds) and the paired ratios B/A. Env: BENCH_ANSWERS
// (per round and variant), ROUNDS. Needs `npm run build`.
'use strict';
const { envoyRoot } = require('../../dist/protos/root');
const { Registry } = require('../../dist/registry/registry');
const { RoutingEngine } = require('../../dist/routing/engine');
const { RuleRouter } = require('../../dist/routing/rule-router');
const { loadRules } = require('../../dist/rules');
const { ExtProcService } = require('../../dist/extproc/service');
const { MetricsRegistry } = require('../../dist/metrics/metrics');
const { DecisionSplit } = require('../../dist/metrics/decision-split');
const { NO_CALLER } = require('../../dist/context/request-context');
const { decideOptionsOf } = require('../../dist/app/app');
const { DEFAULTS } = require('../../dist/config/config');
const { triple, pairedRatios } = require('../registry/stats');

const ANSWERS = Number(process.env.BENCH_ANSWERS ?? 200000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);

const RULES = `rules:
  - name: gray
    service: shop
    sources: [{ arguments: [{ type: header, key: x-canary, match: { type: EXACT, value: gray } }] }]
    destinations: [{ name: canary, labels: { version: v2 } }]
  - name: everyone
    service: shop
    destinations: [{ name: stable, labels: { version: v1 } }]
`;

function frame(extra) {
  const T = envoyRoot().lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
  const headers = { ':method': 'GET', ':path': '/cart', ':authority': 'shop.default', ':scheme': 'http', 'user-agent': 'bench/1.0', ...extra };
  return Buffer.from(T.encode(T.fromObject({ request_headers: { headers: { headers: Object.entries(headers).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) }, end_of_stream: true } })).finish());
}

function service(split) {
  const registry = new Registry();
  for (let i = 0; i < 100; i++) {
    registry.upsert({ id: `i${i}`, service: 'shop', namespace: 'default', host: `10.0.0.${i}`, port: 80, weight: 100, metadata: { version: i % 2 ? 'v2' : 'v1' }, locality: {}, healthy: true, ephemeral: false, ttlSeconds: 15 });
  }
  const loaded = loadRules(RULES, 'bench', 1);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const engine = new RoutingEngine({ registry: registry.snapshot(), rules: loaded.snapshot });
  engine.setRouters([new RuleRouter()]);
  return new ExtProcService(engine, new MetricsRegistry(), decideOptionsOf(DEFAULTS), split);
}

const frames = [frame({ 'x-canary': 'gray' }), frame({})];
function run(svc) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ANSWERS; i++) svc.answer(frames[i & 1], NO_CALLER, 'edge');
  return Number(process.hrtime.bigint() - start) / ANSWERS;
}

const split = new DecisionSplit();
const variants = { 'without split': service(undefined), 'with split': service(split) };
for (const svc of Object.values(variants)) run(svc); // warm-up (JIT) for both
const ns = { 'without split': [], 'with split': [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, svc] of round % 2 ? Object.entries(variants).reverse() : Object.entries(variants)) ns[name].push(run(svc));
}
split.close();
const counted = split.read('default/shop').series.reduce((n, s) => n + s.counts.reduce((a, b) => a + b, 0), 0);
console.log(`ext_proc answer, ${ANSWERS} per round and variant, ${ROUNDS} rounds (ns per answer, min / median / max)`);
for (const [name, values] of Object.entries(ns)) console.log(`  ${name.padEnd(14)} ${triple(values, 0)}`);
console.log(`  paired ratio with/without: ${triple(pairedRatios(ns['without split'], ns['with split']), 3)}`);
console.log(`  decisions counted by the split: ${counted} (the last 300 s)`);
