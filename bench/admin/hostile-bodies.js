// bench/admin/hostile-bodies.js: how long one hostile admin call (every body under the 1 MiB
// limit) holds the server's event loop, the loop that also answers ext_proc (Envoy fails a
// request whose answer takes over 200 ms). Starts `metaroute serve` (bench/registry/probe.js
// preloaded, the embedded store in a temp data directory), loads INSTANCES small instances,
// then sends each kind of call one at a time with the server otherwise idle, and asks the probe
// for the longest event-loop delay around it (and 300 ms after its answer). With several builds
// (DISTS=/old/dist,/new/dist) it alternates them per round (A, B, A, B ...) and prints
// min / median / max per kind and build, with the status each call got.
// Usage: npm run build; node bench/admin/hostile-bodies.js
// Env: INSTANCES (20000), ROUNDS (3), CALLS (per kind per round, 2), DISTS, KINDS (comma-separated),
// RULES (rules of the big service, each selecting a label key of its own: its selectors; default 0).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startProbedServer } = require('../probed-server');
const { triple } = require('../registry/stats');

const ROOT = path.join(__dirname, '..', '..');
const DISTS = (process.env.DISTS ?? path.join(ROOT, 'dist')).split(',').map((d) => path.resolve(d));
const INSTANCES = Number(process.env.INSTANCES ?? 20000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CALLS = Number(process.env.CALLS ?? 2);
const BODY_CHARS = 1000 * 1000; // under the 1 MiB limit
const RULES = Number(process.env.RULES ?? 0);
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-hostile-'));

/** `{ k0: 'v', k1: 'v', ... }` of about `chars` characters of JSON. */
function wideObject(chars, value = 'v') {
  const o = {};
  for (let i = 0, used = 2; used < chars; i++) {
    o[`k${i}`] = value;
    used += `"k${i}":"${value}",`.length;
  }
  return o;
}
const small = (i) => ({ service: 'big', id: `i${i}`, host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, metadata: { version: i % 2 ? 'gray' : 'stable' }, ttlSeconds: 3600 });

/** Each kind: method, path and body text (built once). */
const KINDS = {
  'labels-wide': () => ['POST', '/v1/instances', JSON.stringify({ ...small(1), id: 'wide', host: '10.200.0.1', metadata: wideObject(BODY_CHARS - 200) })],
  'fields-unknown': () => ['POST', '/v1/instances', JSON.stringify({ ...small(1), id: 'wide', host: '10.200.0.1', ...wideObject(BODY_CHARS - 200) })],
  'batch-labels-wide': () => ['POST', '/v1/instances/batch', JSON.stringify({ register: [{ ...small(1), id: 'wide', host: '10.200.0.1', metadata: wideObject(BODY_CHARS - 200) }] })],
  'batch-all-bad': () => {
    const entry = { service: '', host: 'x', port: 0, weight: -1, ttlSeconds: 0, healthy: 1, ephemeral: 1, metadata: { '': '', a: '' }, locality: { x: '1' } };
    const n = Math.floor(BODY_CHARS / (JSON.stringify(entry).length + 1));
    return ['POST', '/v1/instances/batch', JSON.stringify({ register: Array.from({ length: n }, () => entry) })];
  },
  'nested-deep': () => {
    const depth = (BODY_CHARS - 200) >> 1;
    return ['POST', '/v1/instances', `{"service":"big","host":"10.200.0.1","port":1,"metadata":${'['.repeat(depth)}${']'.repeat(depth)}}`];
  },
  'nested-surrogate': () => {
    const depth = (BODY_CHARS - 200) >> 1;
    return ['POST', '/v1/instances', `{"service":"big","host":"10.200.0.1","port":1,"x":"\\ud800","metadata":${'['.repeat(depth)}${']'.repeat(depth)}}`];
  },
  'lists-many': () => ['POST', '/v1/instances', JSON.stringify({ ...small(1), id: 'wide', host: '10.200.0.1', x: Object.fromEntries(Array.from({ length: 33 }, (_, b) => [`b${b}`, Array.from({ length: 9999 }, () => ({}))])) })],
  'batch-entry-lists-many': () => ['POST', '/v1/instances/batch', JSON.stringify({ register: [{ ...small(1), x: Array.from({ length: 33 }, () => Array.from({ length: 9999 }, () => ({}))) }] })],
  'batch-repeated-key': () => ['POST', '/v1/instances/batch', `{"register":[${Array.from({ length: 320_000 }, () => '{}').join(',')}],"register":[]}`],
  'batch-late-syntax-error': () => ['POST', '/v1/instances/batch', `{"register":[${Array.from({ length: 320_000 }, () => '{}').join(',')}],"x":}`],
  'heartbeats-wide': () => ['POST', '/v1/heartbeats', JSON.stringify({ instances: [{ service: 'big', id: 'i1', ...wideObject(BODY_CHARS - 200) }] })],
  'router-config-wide': () => ['PUT', '/v1/routers/rule/config', JSON.stringify(wideObject(BODY_CHARS))],
  'explain-wide': () => ['POST', '/explain', JSON.stringify({ service: 'big', headers: wideObject(BODY_CHARS - 200) })],
  'rules-check-wide': () => ['POST', '/v1/rules/check', JSON.stringify({ rules: [{ name: 'r', service: 'big', match: wideObject(BODY_CHARS - 200) }] })],
  'list-all': () => ['GET', '/v1/instances', undefined],
  'service-page': () => ['GET', '/v1/services/default/big', undefined],
  'config-dump-endpoints': () => ['GET', '/config_dump?resource=endpoints&name=big.default', undefined],
  'service-filter-long': () => ['GET', `/v1/services/default/big?filter=${encodeURIComponent(Array.from({ length: 3000 }, (_, i) => `k${i}=v${i}`).join(' '))}`, undefined],
};
const KIND_NAMES = (process.env.KINDS ?? Object.keys(KINDS).join(',')).split(',');

function startServer(dist, name) {
  return startProbedServer({ dist, dataDir: path.join(OUT, `${name}-data`), logPath: path.join(OUT, `${name}.log`) });
}

async function send(admin, method, urlPath, body, contentType = 'application/json') {
  const res = await fetch(`${admin}${urlPath}`, { method, headers: { 'content-type': contentType }, body });
  const text = await res.text();
  return { status: res.status, bytes: text.length };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measureBuild(dist, name, bodies, results) {
  const server = await startServer(dist, name);
  try {
    for (let from = 0; from < INSTANCES; from += 2000) {
      const { status } = await send(server.admin, 'POST', '/v1/instances/batch', JSON.stringify({ register: Array.from({ length: Math.min(2000, INSTANCES - from) }, (_, k) => small(from + k)) }));
      if (status !== 200) throw new Error(`load: ${status}`);
    }
    if (RULES > 0) {
      const rules = Array.from({ length: RULES }, (_, r) => `  - { name: r${r}, service: big, sources: [{ arguments: [{ type: header, key: x-r, match: { type: EXACT, value: "${r}" } }] }], destinations: [{ name: d, labels: { k${r}: v } }] }`).join('\n');
      const { status } = await send(server.admin, 'PUT', '/v1/rules', `rules:\n${rules}\n`, 'application/yaml');
      if (status !== 200) throw new Error(`rules: ${status}`);
    }
    await sleep(1000);
    for (const kind of KIND_NAMES) {
      for (let c = 0; c < CALLS; c++) {
        await sleep(kind === 'service-page' ? 1100 : 300); // past the page's once-a-second cache
        await server.stats(); // starts the probe's figures over
        const t = performance.now();
        const { status, bytes } = await send(server.admin, ...bodies[kind]);
        const ms = performance.now() - t;
        await sleep(300);
        const s = await server.stats();
        (results[kind] ??= []).push({ loopMaxMs: s.loopMaxMs, callMs: ms, status, bytes });
      }
    }
  } finally {
    await server.stop();
  }
}

async function main() {
  const bodies = Object.fromEntries(KIND_NAMES.map((k) => [k, KINDS[k]()]));
  const results = DISTS.map(() => ({}));
  for (let round = 0; round < ROUNDS; round++) {
    for (let b = 0; b < DISTS.length; b++) await measureBuild(DISTS[b], `r${round}-b${b}`, bodies, results[b]);
  }
  console.log(`\nbench/admin/hostile-bodies: one call at a time, ${INSTANCES} instances registered${RULES ? `, ${RULES} rules each selecting a key of its own` : ''}; ${ROUNDS} rounds x ${CALLS} calls per kind; ms, min / median / max; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  DISTS.forEach((d, b) => console.log(`build ${String.fromCharCode(65 + b)}: ${d}`));
  console.log(`\n| call | body KiB | ${DISTS.map((_, b) => `${String.fromCharCode(65 + b)} max loop delay | ${String.fromCharCode(65 + b)} call | ${String.fromCharCode(65 + b)} status`).join(' | ')} |`);
  console.log(`|---|---:|${DISTS.map(() => '---:|---:|---').join('|')}|`);
  for (const kind of KIND_NAMES) {
    const kib = ((bodies[kind][2]?.length ?? 0) / 1024).toFixed(0);
    const cells = results.map((r) => [triple(r[kind].map((x) => x.loopMaxMs), 1), triple(r[kind].map((x) => x.callMs), 0), [...new Set(r[kind].map((x) => x.status))].join(',')].join(' | '));
    console.log(`| ${kind} | ${kib} | ${cells.join(' | ')} |`);
  }
  fs.rmSync(OUT, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
