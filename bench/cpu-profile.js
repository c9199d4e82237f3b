// Reading a V8 CPU profile (`node --cpu-prof`): which code ran between two of its timestamps.
// Shared by bench/registry/stall-profile.js and bench/rules/profile-blocks.js.
'use strict';
const fs = require('node:fs');

const frameName = (frame) => `${frame.functionName || '(anonymous)'}${frame.url ? ` ${frame.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}` : ''}`;

/**
 * The profile in `file`, with `placesBetween(fromUs, toUs)`: the CPU milliseconds sampled in that
 * window (the profile's clock) by place, the sampled function, under the deepest frame of
 * metaroute's own code (dist/) when there is one ("(idle)": not running), largest first.
 */
function readProfile(file) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parents = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parents.set(child, n.id);
  const placeOf = (id) => {
    const leaf = nodes.get(id).callFrame;
    for (let at = id; at !== undefined; at = parents.get(at)) {
      const frame = nodes.get(at).callFrame;
      if (frame.url.includes('/dist/')) return at === id ? frameName(frame) : `${frameName(leaf)} < ${frameName(frame)}`;
    }
    return frameName(leaf);
  };
  let t = profile.startTime;
  const times = profile.timeDeltas.map((delta) => (t += delta));
  const placesBetween = (fromUs, toUs) => {
    const places = new Map();
    for (let i = 0; i < times.length; i++) {
      if (times[i] < fromUs || times[i] > toUs) continue;
      const place = placeOf(profile.samples[i]);
      places.set(place, (places.get(place) ?? 0) + ((times[i + 1] ?? times[i]) - times[i]) / 1000);
    }
    return [...places].sort((a, b) => b[1] - a[1]);
  };
  return { startUs: profile.startTime, placesBetween };
}

module.exports = { readProfile };
