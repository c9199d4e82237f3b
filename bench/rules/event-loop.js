// bench/rules/event-loop.js: what an accepted 1,000-rule document leaves on the event loop that
// answers ext_proc. A server (in this process, embedded store, 100 services with 2 instances
// each) takes PUT /v1/rules of distinct 1,000-rule documents one after another; a 1 ms timer
// records every gap between its ticks. Per PUT, over the PUT and the 800 ms after its answer
// (its rollout and the drop of the old selectors 500 ms after the switch): the PUT's time, the
// longest gap (how long the loop was held at once) and every gap over 3 ms. On Linux each gap
// also splits into the time the thread waited for a core (/proc schedstat: other work on a
// shared machine), garbage-collection pauses (perf_hooks 'gc' entries) and the rest, the code's
// own: `own` is the gap less the wait, `code` the own share less GC. And per PUT the longest GC
// pause and their sum (wall time: a pause can wait for a core too).
// Usage: npx tsc -p tsconfig.json && node bench/rules/event-loop.js [ROOT]
//   ROOT: a checkout whose dist/ to run (default this one), to compare two builds, run in turn.
//   BENCH_PUTS (default 8). What ran in each gap: add
//   `--cpu-prof --cpu-prof-dir DIR --cpu-prof-interval 100`, set BENCH_GAPS_OUT=FILE (the gaps
//   over 3 ms, on the profile's clock) and run bench/rules/profile-blocks.js on the main
//   thread's profile (the largest file in DIR) and FILE.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay, PerformanceObserver, performance } = require('node:perf_hooks');
const { heavyRules } = require('./documents');

const root = path.resolve(process.argv[2] ?? path.join(__dirname, '../..'));
const { App } = require(path.join(root, 'dist/app/app'));
const { DEFAULTS } = require(path.join(root, 'dist/config/config'));
const { createLogger } = require(path.join(root, 'dist/log/logger'));

const PUTS = Number(process.env.BENCH_PUTS ?? 8);
const AFTER_MS = 800;
const BLOCK_MS = 3;

const schedFd = (() => {
  try {
    return fs.openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
  } catch {
    return undefined; // not Linux: no wait share
  }
})();
const schedBuf = Buffer.alloc(128);
/** Milliseconds the main thread has waited in the run queue since it started. */
function waited() {
  if (schedFd === undefined) return 0;
  const n = fs.readSync(schedFd, schedBuf, 0, schedBuf.length, 0);
  return Number(schedBuf.toString('latin1', 0, n).split(' ')[1]) / 1e6;
}

const gcPauses = []; // [start, end] in performance.now() ms
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses.push([entry.startTime, entry.startTime + entry.duration]);
}).observe({ entryTypes: ['gc'] });
const gcWithin = (from, to) => gcPauses.reduce((sum, [start, end]) => sum + Math.max(0, Math.min(end, to) - Math.max(start, from)), 0);

/** Gaps between the ticks of a 1 ms timer: {end (performance.now()), endUs (hrtime), ms, waitMs}. */
function gapProbe() {
  const gaps = [];
  let last = performance.now();
  let lastWait = waited();
  const timer = setInterval(() => {
    const now = performance.now();
    const wait = waited();
    gaps.push({ end: now, endUs: Number(process.hrtime.bigint() / 1000n), ms: now - last, waitMs: wait - lastWait });
    last = now;
    lastWait = wait;
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
  const longest = { gap: [], own: [], code: [], gc: [] };
  const gcTotal = [];
  const putMs = [];
  const gapsOut = [];
  for (const text of documents.slice(2)) {
    const probe = gapProbe();
    const start = performance.now();
    await put(text);
    const answered = performance.now();
    await sleep(AFTER_MS);
    probe.stop();
    await sleep(10); // the last GC entries arrive after their pause
    const gaps = probe.gaps.map((g) => {
      const own = Math.max(0, g.ms - g.waitMs);
      return { ...g, own, code: Math.max(0, own - gcWithin(g.end - g.ms, g.end)) };
    });
    for (const key of ['gap', 'own', 'code']) longest[key].push(Math.max(...gaps.map((g) => (key === 'gap' ? g.ms : g[key]))));
    const pauses = gcPauses.filter(([from]) => from >= start).map(([from, to]) => to - from);
    longest.gc.push(Math.max(0, ...pauses));
    gcTotal.push(pauses.reduce((sum, ms) => sum + ms, 0));
    putMs.push(answered - start);
    const blocks = gaps.filter((g) => g.ms > BLOCK_MS);
    gapsOut.push(...blocks.map((g) => ({ fromUs: g.endUs - g.ms * 1000, toUs: g.endUs, ms: g.ms, ownMs: g.own, codeMs: g.code })));
    const shown = blocks.map((g) => `${g.ms.toFixed(1)}${g.code < g.ms - 0.5 ? ` (own ${g.own.toFixed(1)}, code ${g.code.toFixed(1)})` : ''} at ${(g.end - g.ms - start).toFixed(0)}`);
    console.log(`PUT ${(answered - start).toFixed(0).padStart(5)} ms | longest gap ${longest.gap.at(-1).toFixed(1).padStart(5)}, own ${longest.own.at(-1).toFixed(1).padStart(5)}, code ${longest.code.at(-1).toFixed(1).padStart(5)}, GC pause ${longest.gc.at(-1).toFixed(1).padStart(5)} ms | gaps over ${BLOCK_MS} ms (at ms from the PUT's start): ${shown.join(', ') || 'none'}`);
  }
  if (process.env.BENCH_GAPS_OUT) fs.writeFileSync(process.env.BENCH_GAPS_OUT, JSON.stringify(gapsOut));
  delay.disable();
  console.log(`longest gap per PUT (ms):              ${stats(longest.gap)}`);
  console.log(`its own share, less waits for a core:   ${stats(longest.own)}`);
  console.log(`the code's, less GC pauses too:         ${stats(longest.code)}`);
  console.log(`longest GC pause per PUT (ms):         ${stats(longest.gc)}`);
  console.log(`GC pauses per PUT, in all (ms):         ${stats(gcTotal)}`);
  console.log(`PUT time (ms):                          ${stats(putMs)}`);
  console.log(`event-loop delay over the PUTs: p99 ${(delay.percentile(99) / 1e6).toFixed(1)} max ${(delay.max / 1e6).toFixed(1)} ms; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  await app.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
