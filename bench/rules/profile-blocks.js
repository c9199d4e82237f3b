// bench/rules/profile-blocks.js: what the main thread ran in the gaps bench/rules/event-loop.js
// saw, from its CPU profile (see event-loop.js's header: sample every 100 µs, BENCH_GAPS_OUT).
// Usage: node bench/rules/profile-blocks.js <main thread .cpuprofile> <gaps file> [min own ms, default 3]
// Per gap whose own share (less waits for a core) is at least min: when, the gap, its own and
// code (own less GC) shares, and its CPU samples by place: the sampled function, under the
// deepest frame of metaroute's own code (dist/) when there is one; (idle) is time not running.
'use strict';
const fs = require('node:fs');
const { readProfile } = require('../cpu-profile');

const [profileFile, gapsFile, minMs = '3'] = process.argv.slice(2);
if (!profileFile || !gapsFile) {
  console.error('usage: node bench/rules/profile-blocks.js <main thread .cpuprofile> <gaps file> [min own ms]');
  process.exit(2);
}
const profile = readProfile(profileFile);
const gaps = JSON.parse(fs.readFileSync(gapsFile, 'utf8'));
const shown = gaps.filter((g) => g.ownMs >= Number(minMs));
for (const gap of shown) {
  console.log(`${((gap.fromUs - profile.startUs) / 1000).toFixed(0)} ms: gap ${gap.ms.toFixed(1)} ms, own ${gap.ownMs.toFixed(1)}, code ${gap.codeMs.toFixed(1)}`);
  for (const [place, placeMs] of profile.placesBetween(gap.fromUs, gap.toUs).slice(0, 8)) console.log(`    ${placeMs.toFixed(1).padStart(6)} ms  ${place}`);
}
console.log(`${shown.length} of ${gaps.length} gaps with at least ${minMs} ms of their own`);
