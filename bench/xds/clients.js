'use strict';
/**
 * Simulated xDS clients, forked by bench/xds/run.js: N ADS streams (SotW or Delta), each on
 * its own connection, each subscribed by name to K clusters over CDS and EDS, ACKing every
 * response like Envoy / gRPC do. On `arm` it watches one cluster and reports, per subscribed
 * stream, when the change arrived and how many response bytes it took.
 */
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');
const { envoyRoot } = require(path.join(__dirname, '..', '..', 'dist', 'protos', 'root'));

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const root = envoyRoot();
const SotwReq = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const SotwRes = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const DeltaReq = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const DeltaRes = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
const raw = (b) => b;
const now = () => performance.timeOrigin + performance.now();

/** Field 1 (name / cluster_name) of an encoded Cluster or ClusterLoadAssignment, without decoding the rest. */
function resourceName(bytes) {
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 2)) return r.string();
    r.skipType(tag & 7);
  }
  return '';
}

const { port, streams, perStream, services, protocol } = JSON.parse(process.argv[2]);
const method = protocol === 'delta'
  ? '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources'
  : '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

/** The armed measurement: cluster, which types must arrive, per-stream progress. */
let armed;
const subscribers = new Map(); // cluster -> stream indexes
let synced = 0;

class Stream {
  constructor(index) {
    this.index = index;
    this.names = [];
    for (let j = 0; j < Math.min(perStream, services.length); j++) {
      const name = services[(index * perStream + j) % services.length];
      this.names.push(name);
      if (!subscribers.has(name)) subscribers.set(name, []);
      subscribers.get(name).push(index);
    }
    this.have = { [CDS]: 0, [EDS]: 0 };
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    this.call = this.client.makeBidiStreamRequest(method, raw, raw);
    this.call.on('data', (bytes) => this.onResponse(bytes));
    this.call.on('error', (err) => {
      if (!shuttingDown) process.send({ error: `stream ${index}: ${err.message}` });
    });
    for (const type of [CDS, EDS]) {
      if (protocol === 'delta') this.send({ node: { id: `sim-${index}` }, type_url: type, resource_names_subscribe: this.names });
      else this.send({ node: { id: `sim-${index}` }, type_url: type, resource_names: this.names });
    }
  }

  send(request) {
    const T = protocol === 'delta' ? DeltaReq : SotwReq;
    this.call.write(Buffer.from(T.encode(T.fromObject(request)).finish()));
  }

  onResponse(bytes) {
    const at = now();
    let type;
    let names;
    if (protocol === 'delta') {
      const m = DeltaRes.decode(bytes);
      type = m.type_url;
      names = m.resources.map((r) => r.name);
      this.send({ type_url: type, response_nonce: m.nonce });
    } else {
      const m = SotwRes.decode(bytes);
      type = m.type_url;
      names = m.resources.map((a) => resourceName(a.value));
      this.send({ type_url: type, version_info: m.version_info, response_nonce: m.nonce, resource_names: this.names });
    }
    if (!this.synced) {
      this.have[type] = Math.max(this.have[type], names.length);
      if (this.have[CDS] === this.names.length && this.have[EDS] === this.names.length) {
        this.synced = true;
        if (++synced === streams) process.send({ ready: true });
      }
      return;
    }
    if (!armed) return;
    const progress = armed.progress.get(this.index);
    if (!progress) return;
    progress.bytes += bytes.length;
    progress.responses++;
    if (names.includes(armed.cluster)) progress.waiting.delete(type);
    if (progress.waiting.size === 0 && progress.at === 0) {
      progress.at = at;
      if (++armed.finished === armed.progress.size) finish();
    }
  }
}

function finish() {
  const done = armed;
  armed = undefined;
  clearTimeout(done.timer);
  const list = [...done.progress.values()];
  process.send({
    done: true,
    times: list.filter((p) => p.at > 0).map((p) => p.at),
    missing: list.filter((p) => p.at === 0).length,
    bytes: list.reduce((s, p) => s + p.bytes, 0),
    responses: list.reduce((s, p) => s + p.responses, 0),
  });
}

let shuttingDown = false;
const all = [];
process.on('message', (msg) => {
  if (msg.arm) {
    const progress = new Map();
    for (const i of subscribers.get(msg.arm) ?? []) progress.set(i, { waiting: new Set(msg.types), at: 0, bytes: 0, responses: 0 });
    armed = { cluster: msg.arm, progress, finished: 0, timer: setTimeout(() => armed && finish(), msg.timeoutMs) };
    process.send({ armed: true, subscribers: progress.size });
  } else if (msg.stop) {
    shuttingDown = true;
    for (const s of all) {
      s.call.cancel();
      s.client.close();
    }
    setTimeout(() => process.exit(0), 100);
  }
});

for (let i = 0; i < streams; i++) all.push(new Stream(i));
