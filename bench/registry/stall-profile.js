// bench/registry/stall-profile.js: what the server ran in its longest stalls. Input: the
// server's CPU profile (run.js with CPU_PROF_DIR, and SERVER_NODE_ARGS='--cpu-prof-interval 100'
// for finer samples) and the stalls probe.js wrote (PROBE_STALLS_OUT: one JSON line per phase).
// Usage: node bench/registry/stall-profile.js <server .cpuprofile> <stalls file> [how many, default 10]
// For each stall (longest outside GC first): when, its own and GC ms, and the CPU samples in it
// by the deepest frame of metaroute's own code (dist/), else by the function sampled.
'use strict';
const fs = require('node:fs');

const [profileFile, stallsFile, howMany = '10'] = process.argv.slice(2);
if (!profileFile || !stallsFile) {
  console.error('usage: node bench/registry/stall-profile.js <server .cpuprofile> <stalls file> [how many]');
  process.exit(2);
}
const profile = JSON.parse(fs.readFileSync(profileFile, 'utf8'));
const stalls = fs.readFileSync(stallsFile, 'utf8').trim().split('\n').flatMap((line) => JSON.parse(line).stalls);

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parents = new Map();
for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n.id);

/** Where a sample is attributed: the deepest frame of metaroute's own code, else the sampled function. */
function placeOf(id) {
  const leaf = nodes.get(id).callFrame;
  for (let at = id; at !== undefined; at = parents.get(at)) {
    const frame = nodes.get(at).callFrame;
    if (frame.url.includes('/dist/')) return `${frame.functionName || '(anonymous)'} ${frame.url.split('/dist/')[1]}:${frame.lineNumber + 1}`;
  }
  return leaf.functionName || leaf.url || '(anonymous)';
}

let t = profile.startTime;
const times = profile.timeDeltas.map((delta) => (t += delta));
const intervalUs = (profile.endTime - profile.startTime) / profile.samples.length;

const longest = stalls.sort((a, b) => b.ownMs - b.gcMs - (a.ownMs - a.gcMs)).slice(0, Number(howMany));
for (const stall of longest) {
  const places = new Map();
  let samples = 0;
  for (let i = 0; i < times.length; i++) {
    if (times[i] < stall.fromUs || times[i] > stall.toUs) continue;
    samples++;
    const place = placeOf(profile.samples[i]);
    places.set(place, (places.get(place) ?? 0) + 1);
  }
  const at = ((stall.fromUs - profile.startTime) / 1e6).toFixed(2);
  console.log(`\n${at} s into the profile: ${((stall.toUs - stall.fromUs) / 1000).toFixed(1)} ms, ${stall.ownMs} ms its own, ${stall.cpuMs ?? '?'} ms CPU (all threads), ${stall.gcMs} ms GC; ${samples} samples (~${((samples * intervalUs) / 1000).toFixed(1)} ms)`);
  for (const [place, n] of [...places].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${((n * intervalUs) / 1000).toFixed(1).padStart(6)} ms  ${place}`);
}
