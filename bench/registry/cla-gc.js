// bench/registry/cla-gc.js: the garbage collection that ClusterLoadAssignment rebuilds of a
// large cluster cause (what an Envoy subscribed to it under churn costs the server's heap).
// Each variant runs in its own process (GC is per process), alternated over ROUNDS: a cluster
// of N endpoints and one of SMALL, then BUILDS times: CHANGED instances replaced, the small
// cluster's CLA rebuilt (other services churn too), then a new lazy CLA of the large one put in the
// xDS cache and built in slices as a stream would have it built, and its SotW response encoded.
// Measured per process (PerformanceObserver 'gc'): full (mark-compact) GCs, their longest
// pause, the longest scavenge, the total paused, and the heap after.
// Usage: node bench/registry/cla-gc.js [BEFORE_DIST]   # N=100000 SMALL=100 BUILDS=40 CHANGED=50 ROUNDS=3
'use strict';
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { triple, pairedRatios } = require('./stats');

const N = Number(process.env.N ?? 100000);
const BUILDS = Number(process.env.BUILDS ?? 40);
const CHANGED = Number(process.env.CHANGED ?? 50);
const SMALL = Number(process.env.SMALL ?? 100);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

async function child(dist, oneCopy) {
  const { PerformanceObserver, constants } = require('node:perf_hooks');
  const resources = require(path.join(dist, 'xds/resources.js'));
  const { ResourceCache } = require(path.join(dist, 'xds/cache.js'));
  const codec = require(path.join(dist, 'xds/codec.js'));
  const cache = new ResourceCache();
  const EDS = { url: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', fullState: false };
  const instance = (i, version) => ({
    id: `i${i}`, service: 'big', namespace: 'default', host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 100,
    metadata: { version, user: `u${i}` }, locality: {}, healthy: true, ephemeral: true, ttlSeconds: 30,
  });
  const instances = Array.from({ length: N }, (_, i) => instance(i, i % 2 ? 'gray' : 'stable'));
  const small = Array.from({ length: SMALL }, (_, i) => ({ ...instance(i, 'stable'), service: 'small' }));
  const build = async (round) => {
    cache.putLazy(EDS, 'small.default', function* () { return (yield* resources.assignmentSteps('small.default', small, ['version'])).any; });
    await cache.prepare(EDS, 'small.default');
    cache.putLazy(EDS, 'big.default', function* () { return (yield* resources.assignmentSteps('big.default', instances, ['version'])).any; });
    await cache.prepare(EDS, 'big.default');
    const any = cache.get(EDS, 'big.default').any;
    // The response a SotW stream sends: the Anys copied once into it, or (before) a resources field first.
    // Builds since 2026-12-02 take the field as chunks (sotwResourcesField), earlier ones the Anys or one buffer.
    const resourcesField = codec.sotwResourcesField
      ? (oneCopy ? codec.sotwResourcesField([any]) : [codec.encodeSotwResources([any])])
      : (oneCopy ? [any] : codec.encodeSotwResources([any]));
    const response = codec.encodeSotwResponse(String(round), EDS.url, String(round), resourcesField);
    return (Array.isArray(response) ? require(path.join(dist, 'xds/chunks.js')).serializeChunks(response).byteLength : response.length); // chunks: copied only as grpc-js frames them
  };
  await build(0); // every endpoint encoded once, as before any churn
  global.gc?.();
  const gcs = [];
  const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcs.push(e); });
  observer.observe({ entryTypes: ['gc'] });
  let next = 0;
  for (let b = 1; b <= BUILDS; b++) {
    for (let k = 0; k < CHANGED; k++, next++) instances[next % N] = instance(next % N, (next + b) % 3 ? 'gray' : 'stable');
    await build(b);
  }
  await new Promise((r) => setTimeout(r, 50));
  observer.disconnect();
  const full = gcs.filter((e) => e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
  const minor = gcs.filter((e) => e.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR);
  const max = (list) => list.reduce((m, e) => Math.max(m, e.duration), 0);
  process.stdout.write(JSON.stringify({ full: full.length, fullMax: max(full), scavengeMax: max(minor), paused: gcs.reduce((s, e) => s + e.duration, 0), heapMiB: process.memoryUsage().heapUsed / 2 ** 20 }));
}

function main() {
  const variants = [];
  if (process.argv[2]) variants.push({ name: 'before', dist: path.resolve(process.argv[2]), runs: [] });
  variants.push({ name: 'after', dist: path.join(__dirname, '..', '..', 'dist'), runs: [] });
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) v.runs.push(JSON.parse(execFileSync(process.execPath, [__filename, '--child', v.dist, v.name], { env: process.env, encoding: 'utf8' })));
  }
  console.log(`cla-gc: ${N} endpoints (and a ${SMALL}-endpoint cluster rebuilt before each), ${BUILDS} rebuilds of ${CHANGED} changed instances each, ${ROUNDS} alternated rounds (a process per run); min / median / max; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log(`| variant | full GCs | longest full GC pause ms | longest scavenge ms | total paused ms | heap after MiB |\n|---|---:|---:|---:|---:|---:|`);
  for (const v of variants) {
    const col = (k) => triple(v.runs.map((r) => r[k]));
    console.log(`| ${v.name} | ${col('full')} | ${col('fullMax')} | ${col('scavengeMax')} | ${col('paused')} | ${col('heapMiB')} |`);
  }
  if (variants.length === 2) console.log(`\ntotal paused, after / before (paired by round): ${triple(pairedRatios(variants[0].runs.map((r) => r.paused), variants[1].runs.map((r) => r.paused)))}`);
}

if (process.argv[2] === '--child') child(path.resolve(process.argv[3]), process.argv[4] !== 'before').catch((e) => { console.error(e); process.exit(1); });
else main();
