// bench/rules/profile-blocks.js: what the main thread ran in each stretch it was busy for over
// 3 ms, from a CPU profile of bench/rules/event-loop.js (see its header; sample every 100 µs).
// Usage: node bench/rules/profile-blocks.js <main thread .cpuprofile> [min ms, default 3]
// A stretch is a run of samples that are not (idle); per stretch: when (ms into the profile),
// how long, and its samples by place: the sampled function, under the deepest frame of
// metaroute's own code (dist/) when there is one.
'use strict';
const fs = require('node:fs');

const [file, minMs = '3'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/rules/profile-blocks.js <main thread .cpuprofile> [min ms]');
  process.exit(2);
}
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
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
const idle = (i) => nodes.get(profile.samples[i]).callFrame.functionName === '(idle)';
let blocks = 0;
for (let i = 0; i < times.length; ) {
  if (idle(i)) {
    i++;
    continue;
  }
  const first = i;
  while (i < times.length && !idle(i)) i++;
  const ms = ((times[i] ?? times[i - 1]) - times[first]) / 1000;
  if (ms < Number(minMs)) continue;
  blocks++;
  const places = new Map();
  for (let k = first; k < i; k++) {
    const place = placeOf(profile.samples[k]);
    places.set(place, (places.get(place) ?? 0) + ((times[k + 1] ?? times[k]) - times[k]) / 1000);
  }
  const top = [...places].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`${((times[first] - profile.startTime) / 1000).toFixed(0)} ms: busy ${ms.toFixed(1)} ms`);
  for (const [place, placeMs] of top) console.log(`    ${placeMs.toFixed(1).padStart(6)} ms  ${place}`);
}
console.log(`${blocks} stretches over ${minMs} ms`);
