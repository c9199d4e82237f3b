// bench/rules/profile-blocks.js: what the main thread ran in the gaps bench/rules/event-loop.js
// saw, from its CPU profile (see event-loop.js's header: sample every 100 µs, BENCH_GAPS_OUT).
// Usage: node bench/rules/profile-blocks.js <main thread .cpuprofile> <gaps file> [min own ms, default 3]
// Per gap whose own share (less waits for a core) is at least min: when, the gap, its own and
// code (own less GC) shares, and its CPU samples by place: the sampled function, under the
// deepest frame of metaroute's own code (dist/) when there is one; (idle) is time not running.
'use strict';
const fs = require('node:fs');

const [profileFile, gapsFile, minMs = '3'] = process.argv.slice(2);
if (!profileFile || !gapsFile) {
  console.error('usage: node bench/rules/profile-blocks.js <main thread .cpuprofile> <gaps file> [min own ms]');
  process.exit(2);
}
const profile = JSON.parse(fs.readFileSync(profileFile, 'utf8'));
const gaps = JSON.parse(fs.readFileSync(gapsFile, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parents = new Map();
for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n.id);

const name = (frame) => `${frame.functionName || '(anonymous)'}${frame.url ? ` ${frame.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}` : ''}`;

function placeOf(id) {
  const leaf = nodes.get(id).callFrame;
  for (let at = id; at !== undefined; at = parents.get(at)) {
    const frame = nodes.get(at).callFrame;
    if (frame.url.includes('/dist/')) return at === id ? name(frame) : `${name(leaf)} < ${name(frame)}`;
  }
  return name(leaf);
}

let t = profile.startTime;
const times = profile.timeDeltas.map((delta) => (t += delta));
const shown = gaps.filter((g) => g.ownMs >= Number(minMs));
for (const gap of shown) {
  const places = new Map();
  for (let i = 0; i < times.length; i++) {
    if (times[i] < gap.fromUs || times[i] > gap.toUs) continue;
    const place = placeOf(profile.samples[i]);
    places.set(place, (places.get(place) ?? 0) + ((times[i + 1] ?? times[i]) - times[i]) / 1000);
  }
  const top = [...places].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`${((gap.fromUs - profile.startTime) / 1000).toFixed(0)} ms: gap ${gap.ms.toFixed(1)} ms, own ${gap.ownMs.toFixed(1)}, code ${gap.codeMs.toFixed(1)}`);
  for (const [place, placeMs] of top) console.log(`    ${placeMs.toFixed(1).padStart(6)} ms  ${place}`);
}
console.log(`${shown.length} of ${gaps.length} gaps with at least ${minMs} ms of their own`);
