'use strict';
/**
 * Replication latency between two metaroute replicas on one etcd (loopback): the time from an
 * acknowledged write on replica A (its admin API answered 200) to
 *   - replica B's ext_proc answer reflecting it (B is asked back to back until it does), and
 *   - replica B's ADS stream pushing the changed endpoint set.
 * Each round registers or removes one `gray` instance (alternating, so both directions are
 * measured); a rule sends `shop` to gray with failover none, so B answers gray or 503.
 * Needs etcd (ETCD_BIN or PATH) and a build (`npm run build`).
 *
 *   node bench/store/replication.js [rounds=200]
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const grpc = require('@grpc/grpc-js');
const { ETCD_BIN, startEtcd: startEtcdMember } = require('../serving');

const DIST = path.join(__dirname, '..', '..', 'dist');
const { envoyRoot } = require(path.join(DIST, 'protos', 'root'));
const { EXT_PROC_SERVICE } = require(path.join(DIST, 'extproc', 'service'));

const ROUNDS = Number(process.argv[2] ?? 200);
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const root = envoyRoot();
const ProcessingRequest = root.lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
const ProcessingResponse = root.lookupType('envoy.service.ext_proc.v3.ProcessingResponse');
const DiscoveryRequest = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const DiscoveryResponse = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const ClusterLoadAssignment = root.lookupType('envoy.config.endpoint.v3.ClusterLoadAssignment');
const now = () => performance.now();

const children = [];
async function startEtcd(dir) {
  const etcd = await startEtcdMember(dir);
  children.push(etcd.process);
  return etcd.endpoint;
}

function startReplica(dir, name, endpoint) {
  const proc = spawn(process.execPath, [path.join(DIST, 'cli', 'main.js'), 'serve'], {
    env: { ...process.env, METAROUTE_ETCD_ENDPOINTS: endpoint, METAROUTE_EXTPROC_PORT: '0', METAROUTE_XDS_PORT: '0', METAROUTE_ADMIN_PORT: '0', METAROUTE_DATA_DIR: path.join(dir, name) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(proc);
  let log = '';
  let serving = false;
  return new Promise((resolve, reject) => {
    proc.stderr.on('data', (c) => {
      if (serving) return;
      log += c;
      const line = log.split('\n').slice(0, -1).find((l) => l.includes('"event":"serving"')); // whole lines only
      if (!line) return;
      serving = true;
      log = '';
      const { ports } = JSON.parse(line);
      resolve({ extProc: ports.extProc, xds: ports.xds, admin: `http://127.0.0.1:${ports.admin}` });
    });
    proc.on('exit', (code) => reject(new Error(`replica ${name} exited ${code}: ${log}`)));
  });
}

async function call(base, method, urlPath, body) {
  const r = await fetch(base + urlPath, { method, body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': typeof body === 'string' ? 'application/yaml' : 'application/json' } });
  if (r.status !== 200) throw new Error(`${method} ${urlPath}: ${r.status} ${await r.text()}`);
}

/** One ext_proc stream per request, as Envoy opens one per HTTP request. Resolves true when B routes to gray. */
function makeAsk(port) {
  const Client = grpc.makeGenericClientConstructor(EXT_PROC_SERVICE, 'ExternalProcessor');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const frame = Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromObject({
    request_headers: { headers: { headers: [[':method', 'GET'], [':path', '/'], [':authority', 'shop']].map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) }, end_of_stream: true },
  })).finish());
  return () => new Promise((resolve, reject) => {
    const stream = client.Process();
    let gray = false;
    stream.on('data', (bytes) => {
      const answer = ProcessingResponse.toObject(ProcessingResponse.decode(bytes), { defaults: false });
      gray = answer.dynamic_metadata?.fields?.['envoy.lb']?.structValue?.fields?.version?.stringValue === 'gray';
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(gray));
    stream.write(frame);
    stream.end();
  });
}

/** ADS (SotW) subscribed to shop.default's endpoints; calls onPush(endpointCount, at) per push. */
function watchEds(port, onPush) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const raw = (b) => b;
  const stream = client.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', raw, raw);
  const send = (m) => stream.write(Buffer.from(DiscoveryRequest.encode(DiscoveryRequest.fromObject(m)).finish()));
  stream.on('data', (bytes) => {
    const at = now();
    const m = DiscoveryResponse.decode(bytes);
    const cla = m.resources.length ? ClusterLoadAssignment.decode(m.resources[0].value) : { endpoints: [] };
    onPush(cla.endpoints.reduce((n, l) => n + l.lb_endpoints.length, 0), at);
    send({ type_url: EDS, version_info: m.version_info, response_nonce: m.nonce, resource_names: ['shop.default'] });
  });
  stream.on('error', () => undefined);
  send({ node: { id: 'bench' }, type_url: EDS, resource_names: ['shop.default'] });
  return () => (stream.cancel(), client.close());
}

function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  return `min ${v[0].toFixed(1)}  p50 ${at(0.5).toFixed(1)}  p99 ${at(0.99).toFixed(1)}  max ${v[v.length - 1].toFixed(1)} ms (n=${v.length})`;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-repl-'));
  try {
    const etcd = await startEtcd(dir);
    const [a, b] = [await startReplica(dir, 'a', etcd), await startReplica(dir, 'b', etcd)];
    await call(a.admin, 'PUT', '/v1/rules', 'rules:\n  - name: all-gray\n    service: shop\n    destinations: [{ name: gray, labels: { version: gray } }]\n    failover: none\n');
    await call(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'blue' }, ephemeral: false });
    const ask = makeAsk(b.extProc);
    let pushes = [];
    const stop = watchEds(b.xds, (count, at) => pushes.push({ count, at }));
    await new Promise((r) => setTimeout(r, 500));

    const write = { register: [], remove: [] };
    const extProc = { register: [], remove: [] };
    const ads = { register: [], remove: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const register = round % 2 === 0; // alternating: register, remove, register, ...
      const kind = register ? 'register' : 'remove';
      pushes = [];
      const started = now();
      if (register) await call(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.2', port: 2, metadata: { version: 'gray' }, ephemeral: false });
      else await call(a.admin, 'DELETE', '/v1/instances/default/shop/10.0.0.2:2');
      const acked = now();
      write[kind].push(acked - started);
      while ((await ask()) !== register) {} // B answers from its snapshot: back to back until it changes
      extProc[kind].push(now() - acked);
      const want = register ? 2 : 1;
      while (!pushes.some((p) => p.count === want)) await new Promise((r) => setImmediate(r));
      ads[kind].push(Math.max(0, pushes.find((p) => p.count === want).at - acked));
      await new Promise((r) => setTimeout(r, 30)); // let the ADS debounce settle between rounds
    }
    stop();
    console.log(`replication A -> B on one etcd (loopback), ${ROUNDS} rounds alternating register / remove`);
    for (const kind of ['register', 'remove']) {
      console.log(`  ${kind}: write acknowledged on A: ${stats(write[kind])}`);
      console.log(`  ${kind}: ack on A -> B's ext_proc answer: ${stats(extProc[kind])}`);
      console.log(`  ${kind}: ack on A -> B's ADS push:        ${stats(ads[kind])}`);
    }
    console.log(`  all: ack on A -> B's ext_proc answer: ${stats([...extProc.register, ...extProc.remove])}`);
    console.log(`  all: ack on A -> B's ADS push:        ${stats([...ads.register, ...ads.remove])}`);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (!ETCD_BIN) {
  console.log('bench/store/replication.js: skipped, no etcd binary (set ETCD_BIN or apt-get install -y etcd-server)');
  process.exit(0);
}
main().then(() => process.exit(0), (e) => {
  console.error(e);
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
});
