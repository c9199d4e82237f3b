// bench/registry/cla.js: the event-loop time of one ClusterLoadAssignment rebuild of a large
// cluster (what an Envoy subscribed to it costs per push), before vs after, interleaved.
// In process: a cluster of N endpoints in random order (as a ServiceView holds them), encoded
// once (each instance's endpoint encoded and cached), then, per round and variant, one
// instance replaced and the whole CLA rebuilt, timed; plus the sha256 the cache takes of it
// for its version, and the main thread's CPU time of the rebuild (process.cpuUsage, user).
// Usage: node bench/registry/cla.js [BEFORE_DIST]   # N=100000 ROUNDS=5
'use strict';
const os = require('node:os');
const path = require('node:path');
const { createHash } = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { triple, pairedRatios } = require('./stats');

const N = Number(process.env.N ?? 100000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const variants = [];
if (process.argv[2]) variants.push({ name: 'before', dist: path.resolve(process.argv[2]) });
variants.push({ name: 'after', dist: path.join(__dirname, '..', '..', 'dist') });
for (const v of variants) v.encodeAssignment = require(path.join(v.dist, 'xds/resources.js')).encodeAssignment;

const instance = (i, version = i % 2 ? 'gray' : 'stable') => ({
  id: `i${i}`, service: 'big', namespace: 'default', host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 100,
  metadata: { version, user: `u${i}` }, locality: {}, healthy: true, ephemeral: true, ttlSeconds: 30,
});
const instances = Array.from({ length: N }, (_, i) => instance(i));
for (let i = N - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [instances[i], instances[j]] = [instances[j], instances[i]];
}

const results = new Map();
const put = (key, value) => (results.get(key) ?? results.set(key, []).get(key)).push(value);
for (const v of variants) v.encodeAssignment('big.default', instances, ['version']); // first build: every endpoint encoded
for (let round = 0; round < ROUNDS; round++) {
  for (const v of variants) {
    const at = Math.floor(Math.random() * N);
    instances[at] = instance(Number(instances[at].id.slice(1)), round % 2 ? 'gray' : 'stable');
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const { any } = v.encodeAssignment('big.default', instances, ['version']);
    const t1 = performance.now();
    createHash('sha256').update(any).digest('base64url');
    const t2 = performance.now();
    put(`${v.name}/rebuild`, t1 - t0);
    put(`${v.name}/cpu`, process.cpuUsage(cpu0).user / 1000);
    put(`${v.name}/hash`, t2 - t1);
    put(`${v.name}/mib`, any.length / 1048576);
  }
}
console.log(`\nbench/registry/cla: ${N} endpoints, one changed per rebuild, ${ROUNDS} interleaved rounds; min / median / max; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
console.log(`| ms | ${variants.map((v) => v.name).join(' | ')} |${variants.length > 1 ? ' after/before, paired median |' : ''}`);
console.log(`|---|${variants.map(() => '---:|').join('')}${variants.length > 1 ? '---:|' : ''}`);
for (const [metric, label] of [['rebuild', 'rebuild (wall)'], ['cpu', 'rebuild (CPU, user)'], ['hash', 'sha256 of it (wall)'], ['mib', 'size MiB']]) {
  const series = variants.map((v) => results.get(`${v.name}/${metric}`));
  const ratio = variants.length > 1 ? ` ${triple(pairedRatios(series[0], series[1]), 3).split(' / ')[1]} |` : '';
  console.log(`| ${label} | ${series.map((s) => triple(s)).join(' | ')} |${ratio}`);
}
