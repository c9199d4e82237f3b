// bench/xds/push.js: the event-loop turn that sends one SotW push of a large
// ClusterLoadAssignment (encoding the response and grpc-js serializing it), before vs after.
// Each variant serves an ADS method built from its own dist (its codec and its xDS service
// definition) in a process of its own, since page faults and malloc's reuse of freed memory are
// per process; the variants alternate over ROUNDS. Per round, a client in this process takes
// PUSHES responses, asking for the next one 100 ms after each (so garbage collection runs in
// between, as between real pushes). Measured in the server: the synchronous ms from encoding
// the response to `call.write` returning, per push; printed min / median / max over every push
// of every round, and the paired ratio of the round medians.
// Usage: node bench/xds/push.js [BEFORE_DIST]   # N=100000 PUSHES=10 ROUNDS=4 (`npm run build` first)
// AFTER_ENV='NAME=value ...' gives the "after" server those variables; without BEFORE_DIST,
// "before" is then the same build without them (e.g. glibc's MALLOC_MMAP_THRESHOLD_).
'use strict';
const { fork } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { envPairs } = require('../serving');
const { triple, pairedRatios, summary } = require('../registry/stats');

const N = Number(process.env.N ?? 100000);
const PUSHES = Number(process.env.PUSHES ?? 10);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
const CLA = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

/** The server: one N-endpoint assignment, encoded once; a push answers every request. */
function serve(dist) {
  const codec = require(path.join(dist, 'xds/codec.js'));
  const { serviceDefinition } = require(path.join(dist, 'xds/services.js'));
  const { encodeAssignment } = require(path.join(dist, 'xds/resources.js'));
  const { performance } = require('node:perf_hooks');
  const instances = Array.from({ length: N }, (_, i) => ({
    id: `i${i}`, service: 'big', namespace: 'default', host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 100,
    metadata: { version: i % 2 ? 'gray' : 'stable', user: `u${i}` }, locality: {}, healthy: true, ephemeral: true, ttlSeconds: 30,
  }));
  const { any } = encodeAssignment('big.default', instances, ['version']);
  const turns = [];
  const server = new grpc.Server({ 'grpc.max_send_message_length': -1 });
  server.addService(serviceDefinition(ADS), {
    StreamAggregatedResources: (call) => {
      let nonce = 0;
      call.on('data', () => {
        const t0 = performance.now();
        call.write(codec.encodeSotwResponse(String(nonce), CLA, String(nonce++), codec.sotwResourcesField([any])));
        turns.push(performance.now() - t0);
      });
      call.on('error', () => undefined);
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => process.send(error ? { error: error.message } : { port }));
  process.on('message', () => process.send({ turns }, () => process.exit(0)));
}

/** This process's environment with `changes` (a name set to undefined is left out). */
function withEnv(changes) {
  const env = { ...process.env, ...changes };
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete env[name];
  return env;
}

/** One round of one variant: its server in a child process, PUSHES pushes taken; resolves with the server's turn times. */
async function round({ dist, env }) {
  const child = fork(__filename, ['serve', dist], { env: withEnv(env) });
  const next = () => new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const { port, error } = await next();
  if (error) throw new Error(error);
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  const call = client.makeBidiStreamRequest(`/${ADS}/StreamAggregatedResources`, (b) => b, (b) => b);
  await new Promise((resolve, reject) => {
    let received = 0;
    call.on('data', () => {
      if (++received === PUSHES) resolve();
      else setTimeout(() => call.write(Buffer.alloc(0)), 100);
    });
    call.on('error', reject);
    call.write(Buffer.alloc(0)); // any request: the server pushes on each
  });
  call.cancel();
  client.close();
  const { turns } = await new Promise((resolve) => {
    child.once('message', resolve);
    child.send('report');
  });
  return turns;
}

async function main() {
  const dist = path.join(__dirname, '..', '..', 'dist');
  const afterEnv = envPairs(process.env.AFTER_ENV, 'AFTER_ENV');
  // "before" runs without those variables even if this shell has them.
  const beforeEnv = Object.fromEntries(Object.keys(afterEnv).map((name) => [name, undefined]));
  const variants = [];
  if (process.argv[2]) variants.push({ name: 'before', dist: path.resolve(process.argv[2]), env: beforeEnv });
  else if (process.env.AFTER_ENV) variants.push({ name: 'before', dist, env: beforeEnv });
  variants.push({ name: 'after', dist, env: afterEnv });
  for (const v of variants) v.turns = [];
  for (let r = 0; r < ROUNDS; r++) for (const v of variants) v.turns.push(await round(v));
  console.log(`\nbench/xds/push: a SotW push of a ${N}-endpoint ClusterLoadAssignment, ${PUSHES} per round, ${ROUNDS} interleaved rounds; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log(`| ms in the turn that sends a push | ${variants.map((v) => v.name).join(' | ')} |`);
  console.log(`|---|${variants.map(() => '---:|').join('')}`);
  console.log(`| min / median / max over every push | ${variants.map((v) => triple(v.turns.flat())).join(' | ')} |`);
  if (variants.length > 1) {
    const medians = variants.map((v) => v.turns.map((t) => summary(t).median));
    console.log(`\nafter / before, paired round medians: ${triple(pairedRatios(medians[0], medians[1]))}`);
  }
}

if (process.argv[2] === 'serve') serve(process.argv[3]);
else main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
