'use strict';
/**
 * Wildcard SotW CDS push benchmark (not a test). Runs the compiled code (`npm run build` first):
 *
 *   node bench/xds/wildcard.js [--clusters 10000] [--streams 500] [--rounds 3]
 *
 * Envoy subscribes to CDS by wildcard, so every cluster change sends every Envoy every
 * cluster. The baseline writes each stream's whole response with one protobufjs Writer from
 * the per-resource Any bytes (metaroute's encoder before 2026-11-21, kept here); metaroute
 * splices in one `resources` body shared by all streams (ResourceCache.everything: since
 * 2026-12-02 in 64 buckets, only the changed cluster's re-encoded after a change), copied
 * with the stream's version and nonce straight into the frame as grpc-js serializes it
 * (xds/chunks.ts). Each is timed up to the bytes in the frame grpc-js allocates (the baseline's
 * Writer output is copied there once more); each push of the shared body follows a cluster
 * change. Both build the same fields for every stream (the resources in another order), in
 * this process, alternately; printed per push, and the ratio baseline / metaroute paired by round.
 */
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const protobuf = require('protobufjs');
const { pairedRatios, triple } = require('../registry/stats');

const dist = path.join(__dirname, '..', '..', 'dist');
const { ResourceCache } = require(path.join(dist, 'xds', 'cache'));
const { serializeChunks } = require(path.join(dist, 'xds', 'chunks'));
const { encodeAny, encodeSotwResponse } = require(path.join(dist, 'xds', 'codec'));
const { buildCluster, CLUSTER_TYPE } = require(path.join(dist, 'xds', 'resources'));
const { CDS } = require(path.join(dist, 'xds', 'types'));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 ? process.argv[i + 1] : fallback);
}
const CLUSTERS = arg('clusters', 10000);
const STREAMS = arg('streams', 500);
const ROUNDS = arg('rounds', 3);

const cache = new ResourceCache();
const policy = { selectors: [['env'], ['env', 'version'], ['user']], keys: ['env', 'user', 'version'], endpointMode: false };
for (let i = 0; i < CLUSTERS; i++) cache.put(CDS, `svc${i}.default`, encodeAny(CLUSTER_TYPE, buildCluster(`svc${i}.default`, policy)));

/** One push: a response for every stream; returns the ms it took. */
function push(assemble) {
  const t0 = performance.now();
  for (let s = 0; s < STREAMS; s++) assemble(s.toString(36));
  return performance.now() - t0;
}
/** DiscoveryResponse fields 1 (version), 2 (each Any), 4 (type URL), 5 (nonce), written per stream. */
function perStream(nonce) {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string(cache.version(CDS));
  for (const resource of cache.entries(CDS)) w.uint32((2 << 3) | 2).bytes(resource.any);
  w.uint32((4 << 3) | 2).string(CDS.url);
  w.uint32((5 << 3) | 2).string(nonce);
  return framed(w.finish());
}
/** The frame grpc-js allocates for a serialized message, filled as its serializeMessage does (less the 5-byte header). */
function framed(message) {
  const frame = Buffer.allocUnsafe(message.byteLength);
  message.copy(frame, 0);
  return frame;
}
const shared = (nonce) => framed(serializeChunks(encodeSotwResponse(cache.version(CDS), CDS.url, nonce, cache.everything(CDS).body)));
/** A response's fields as sorted hex strings: its resources may come in any order. */
function fields(bytes) {
  const reader = protobuf.Reader.create(bytes);
  const found = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    found.push(`${tag >>> 3}:${Buffer.from(reader.bytes()).toString('hex')}`);
  }
  return found.sort().join();
}
if (fields(perStream('n')) !== fields(shared('n'))) throw new Error('the two ways built different responses');
const svc0 = encodeAny(CLUSTER_TYPE, buildCluster('svc0.default', policy));

const baselineMs = [];
const sharedMs = [];
for (let round = 0; round < ROUNDS; round++) {
  baselineMs.push(push(perStream));
  // A new type version, so the shared body is rebuilt within the push, as after a change.
  cache.remove(CDS, 'svc0.default');
  cache.put(CDS, 'svc0.default', svc0);
  sharedMs.push(push(shared));
}
const mb = (shared('n').length / 1024 / 1024).toFixed(2);
console.log(`wildcard SotW CDS: ${CLUSTERS} clusters (${mb} MiB per response) to ${STREAMS} streams, ${ROUNDS} pushes alternated; ms per push, min / median / max`);
console.log(`  per-stream assembly (baseline): ${triple(baselineMs, 1)}`);
console.log(`  shared body (metaroute):        ${triple(sharedMs, 1)}`);
console.log(`  baseline / metaroute, paired by round: ${triple(pairedRatios(sharedMs, baselineMs), 2)}`);
