// bench/rules/event-loop.js: what an accepted 1,000-rule document leaves on the event loop that
// answers ext_proc. A server (in this process, embedded store, 100 services with 2 instances
// each) takes PUT /v1/rules of distinct 1,000-rule documents one after another; a 1 ms timer
// records every gap between its ticks. Per PUT, over the PUT and the 800 ms after its answer
// (its rollout and the drop of the old selectors 500 ms after the switch): the PUT's time, the
// longest gap (how long the loop was held at once) and every gap over 3 ms.
// Usage: npx tsc -p tsconfig.json && node bench/rules/event-loop.js [ROOT]
//   ROOT: a checkout whose dist/ to run (default this one), to compare two builds, run in turn.
//   BENCH_PUTS (default 8). What ran in each gap: add
//   `--cpu-prof --cpu-prof-dir DIR --cpu-prof-interval 100` and run bench/rules/profile-blocks.js
//   on the main thread's profile (the largest file in DIR).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const { heavyRules } = require('./documents');

const root = path.resolve(process.argv[2] ?? path.join(__dirname, '../..'));
const { App } = require(path.join(root, 'dist/app/app'));
const { DEFAULTS } = require(path.join(root, 'dist/config/config'));
const { createLogger } = require(path.join(root, 'dist/log/logger'));

const PUTS = Number(process.env.BENCH_PUTS ?? 8);
const AFTER_MS = 800;
const BLOCK_MS = 3;

/** Gaps between the ticks of a 1 ms timer: [when it ended (performance.now()), ms]. */
function gapProbe() {
  const gaps = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    gaps.push([now, now - last]);
    last = now;
  }, 1);
  return { gaps, stop: () => clearInterval(timer) };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `min ${sorted[0].toFixed(1)} median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} max ${sorted[sorted.length - 1].toFixed(1)}`;
};

(async () => {
  console.log(`bench/rules/event-loop (${root}; ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-rules-loop-'));
  const app = await App.start({ ...DEFAULTS, ports: { extProc: 0, xds: 0, admin: 0 }, dataDir }, createLogger('warn'));
  const admin = `http://127.0.0.1:${app.ports.admin}`;
  const register = Array.from({ length: 200 }, (_, i) => ({ service: `s${i % 100}`, host: `10.0.${i % 100}.${1 + Math.floor(i / 100)}`, port: 80, metadata: { version: i < 100 ? 'gray' : 'stable' } }));
  const registered = await fetch(`${admin}/v1/instances/batch`, { method: 'POST', body: JSON.stringify({ register }) });
  if (!registered.ok) throw new Error(`registration: ${registered.status} ${await registered.text()}`);
  // Made before measuring: generating the JSON is the bench's work, on this same event loop.
  const documents = Array.from({ length: PUTS + 2 }, (_, k) => heavyRules(1000 + k));
  const put = async (text) => {
    const response = await fetch(`${admin}/v1/rules`, { method: 'PUT', body: text });
    if (!response.ok) throw new Error(`PUT /v1/rules: ${response.status} ${await response.text()}`);
  };
  for (const text of documents.slice(0, 2)) { // warm up (JIT, the worker)
    await put(text);
    await sleep(AFTER_MS);
  }
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const longest = [];
  const putMs = [];
  for (const text of documents.slice(2)) {
    const probe = gapProbe();
    const start = performance.now();
    await put(text);
    const answered = performance.now();
    await sleep(AFTER_MS);
    probe.stop();
    const blocks = probe.gaps.filter(([, ms]) => ms > BLOCK_MS).map(([end, ms]) => `${ms.toFixed(1)} at ${(end - ms - start).toFixed(0)}`);
    longest.push(Math.max(...probe.gaps.map(([, ms]) => ms)));
    putMs.push(answered - start);
    console.log(`PUT ${(answered - start).toFixed(0).padStart(5)} ms | longest gap ${longest.at(-1).toFixed(1).padStart(5)} ms | gaps over ${BLOCK_MS} ms (ms at ms from the PUT's start): ${blocks.join(', ') || 'none'}`);
  }
  delay.disable();
  console.log(`longest gap per PUT (ms): ${stats(longest)}`);
  console.log(`PUT time (ms):            ${stats(putMs)}`);
  console.log(`event-loop delay over the PUTs: p99 ${(delay.percentile(99) / 1e6).toFixed(1)} max ${(delay.max / 1e6).toFixed(1)} ms; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  await app.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
