// bench/registry/stall-profile.js: what the server ran in its longest stalls. Input: the
// server's CPU profile (run.js with CPU_PROF_DIR, and SERVER_NODE_ARGS='--cpu-prof-interval 100'
// for finer samples) and the stalls probe.js wrote (PROBE_STALLS_OUT: one JSON line per phase).
// Usage: node bench/registry/stall-profile.js <server .cpuprofile> <stalls file> [how many, default 10]
// For each stall (longest outside GC first): when, its own and GC ms, and the CPU samples in it
// by the sampled function under the deepest frame of metaroute's own code (dist/) (bench/cpu-profile.js).
'use strict';
const fs = require('node:fs');
const { readProfile } = require('../cpu-profile');

const [profileFile, stallsFile, howMany = '10'] = process.argv.slice(2);
if (!profileFile || !stallsFile) {
  console.error('usage: node bench/registry/stall-profile.js <server .cpuprofile> <stalls file> [how many]');
  process.exit(2);
}
const profile = readProfile(profileFile);
const stalls = fs.readFileSync(stallsFile, 'utf8').trim().split('\n').flatMap((line) => JSON.parse(line).stalls);

const longest = stalls.sort((a, b) => b.ownMs - b.gcMs - (a.ownMs - a.gcMs)).slice(0, Number(howMany));
for (const stall of longest) {
  const places = profile.placesBetween(stall.fromUs, stall.toUs);
  const sampledMs = places.reduce((sum, [, ms]) => sum + ms, 0);
  const at = ((stall.fromUs - profile.startUs) / 1e6).toFixed(2);
  console.log(`\n${at} s into the profile: ${((stall.toUs - stall.fromUs) / 1000).toFixed(1)} ms, ${stall.ownMs} ms its own, ${stall.cpuMs ?? '?'} ms CPU (all threads), ${stall.gcMs} ms GC; ~${sampledMs.toFixed(1)} ms sampled`);
  for (const [place, ms] of places.slice(0, 8)) console.log(`  ${ms.toFixed(1).padStart(6)} ms  ${place}`);
}
