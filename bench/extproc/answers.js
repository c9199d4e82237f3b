#!/usr/bin/env node
// Encoding one ext_proc answer per decision kind, for two builds alternated round by round.
//   DISTS=/old/dist,/new/dist ROUNDS=7 node bench/extproc/answers.js
// Each round runs each build in a fresh process (A, B, A, B ...); prints ns per answer,
// min / median / max, and the paired ratio B / A per kind.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { pairedRatios, triple } = require('../registry/stats');

const DISTS = (process.env.DISTS ?? path.join(__dirname, '..', '..', 'dist')).split(',');
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const PER_ROUND = 500_000;

// One build's answers, as a rule router's decisions repeat: the same labels object per destination, a new decision object per request.
const child = `
const { encodeDecision } = require(process.argv[1] + '/extproc/responses');
const labels = Object.freeze({ version: 'v2' });
const endpoints = Object.freeze(['10.0.0.1:80', '10.0.0.2:80']);
const kinds = {
  subset: () => ({ kind: 'subset', labels }),
  cluster: () => ({ kind: 'cluster', cluster: 'canary.default', labels }),
  endpoints: () => ({ kind: 'endpoints', endpoints, first: 1 }),
};
const out = {};
for (const [kind, decision] of Object.entries(kinds)) {
  for (let i = 0; i < ${PER_ROUND} / 5; i++) encodeDecision(decision(), undefined, 'gray');
  const start = process.hrtime.bigint();
  for (let i = 0; i < ${PER_ROUND}; i++) encodeDecision(decision(), undefined, 'gray');
  out[kind] = Number(process.hrtime.bigint() - start) / ${PER_ROUND};
}
process.stdout.write(JSON.stringify(out));
`;

const results = DISTS.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  DISTS.forEach((dist, d) => results[d].push(JSON.parse(execFileSync(process.execPath, ['-e', child, path.resolve(dist)], { encoding: 'utf8' }))));
}
for (const kind of Object.keys(results[0][0])) {
  DISTS.forEach((dist, d) => console.log(`${kind.padEnd(10)} ${String.fromCharCode(65 + d)} ${dist}: ns per answer min / median / max ${triple(results[d].map((r) => r[kind]))}`));
  if (DISTS.length === 2) console.log(`${kind.padEnd(10)} B / A paired: ${triple(pairedRatios(results[0].map((r) => r[kind]), results[1].map((r) => r[kind])), 3)}`);
}
