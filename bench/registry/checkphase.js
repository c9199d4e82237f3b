// bench/registry/checkphase.js, a diagnostic preload for the server under test
// (`SERVER_NODE_ARGS='-r bench/registry/checkphase.js'` with run.js): groups the setImmediate
// callbacks that run back to back (one event-loop turn's check phase, where the sliced
// background work runs: store events applied to the registry, endpoint builds, batch writes)
// and, when the server exits, writes the 40 groups with the most time of their own (wall time
// less the wait for a core; GC pauses inside included) to CHECKPHASE_OUT (JSON; default
// $TMPDIR/metaroute-checkphase-<pid>.json): when (ms since
// start), and the milliseconds of each place that scheduled a callback in it. Each
// setImmediate call takes a stack trace: a diagnostic, not for timing anything else.
'use strict';
if (!require('node:worker_threads').isMainThread) return;
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const fd = fs.openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
const buf = Buffer.alloc(128);
const wait = () => { const n = fs.readSync(fd, buf, 0, 128, 0); return Number(buf.toString('latin1', 0, n).split(' ')[1]) / 1e6; };
const original = global.setImmediate;
let group = null; // {start, end, waitStart, parts: Map}
const top = [];
function site() {
  const lines = new Error().stack.split('\n').slice(3);
  const own = lines.find((l) => l.includes('/dist/')) ?? lines[0] ?? '?';
  return own.trim().replace(/^at /, '').replace(/\(.*\/dist\//, '(').slice(0, 90);
}
function close() {
  if (!group) return;
  const own = group.end - group.start - (group.waitEnd - group.waitStart);
  top.push({ own, wall: group.end - group.start, at: group.start, parts: [...group.parts].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${v.toFixed(2)}`) });
  if (top.length > 400) { top.sort((a, b) => b.own - a.own); top.length = 50; }
  group = null;
}
global.setImmediate = function (fn, ...args) {
  const where = site();
  return original(function () {
    const t0 = performance.now();
    if (group && t0 - group.end > 0.2) close();
    if (!group) group = { start: t0, end: t0, waitStart: wait(), waitEnd: 0, parts: new Map() };
    try { return fn.apply(this, args); } finally {
      const t1 = performance.now();
      group.end = t1;
      group.waitEnd = wait();
      group.parts.set(where, (group.parts.get(where) ?? 0) + (t1 - t0));
    }
  });
};
process.on('exit', () => {
  close();
  top.sort((a, b) => b.own - a.own);
  const out = process.env.CHECKPHASE_OUT ?? require('node:path').join(require('node:os').tmpdir(), `metaroute-checkphase-${process.pid}.json`);
  fs.writeFileSync(out, JSON.stringify(top.slice(0, 40), null, 1));
});
