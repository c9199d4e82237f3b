'use strict';
/**
 * xDS push benchmark (not a test). Runs the compiled server (`npm run build` first):
 *
 *   node bench/xds/run.js [--streams 500] [--per-stream 20] [--instances 100]
 *                         [--scales 10000,100000] [--changes 200] [--debounce 20]
 *
 * For each scale (total endpoints = services x instances) it registers the endpoints, starts
 * metaroute's XdsServer on loopback, and forks simulated clients (bench/xds/clients.js): N ADS
 * streams, each subscribed by name to K clusters over CDS + EDS, first SotW then Delta. Then it
 * changes one endpoint of a random service, one at a time, and measures the time until every
 * stream subscribed to that service has the new CLA, and the response bytes it took. A rules
 * change that alters one cluster measures the CDS side (SotW resends every subscribed cluster).
 */
const path = require('node:path');
const { fork } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const grpc = require('@grpc/grpc-js');

const dist = path.join(__dirname, '..', '..', 'dist');
const { XdsServer } = require(path.join(dist, 'xds'));
const { Registry } = require(path.join(dist, 'registry', 'registry'));
const { MetricsRegistry } = require(path.join(dist, 'metrics', 'metrics'));
const { createLogger } = require(path.join(dist, 'log', 'logger'));

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const STREAMS = Number(arg('streams', 500));
const PER_STREAM = Number(arg('per-stream', 20));
const INSTANCES = Number(arg('instances', 100));
const SCALES = arg('scales', '10000,100000').split(',').map(Number);
const CHANGES = Number(arg('changes', 200));
const CLUSTER_CHANGES = Math.max(10, Math.round(CHANGES / 10));
const DEBOUNCE = Number(arg('debounce', 20));

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes) => (bytes / 1024 / 1024).toFixed(0);
let peakRss = 0;
setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50).unref();

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// Deterministic pseudo-random numbers, so runs are comparable.
let seed = 42;
function random() {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}

function instanceOf(s, i) {
  return {
    id: `i${i}`,
    service: `svc${s}`,
    namespace: 'default',
    host: `10.${(s >> 8) & 255}.${s & 255}.${i & 255}`,
    port: 8000 + (i >> 8),
    weight: 100,
    metadata: { env: i % 10 === 0 ? 'gray' : 'prod', version: `v${i % 3}`, user: `u${i % 20}` },
    locality: { region: 'r1', zone: `z${i % 3}`, campus: `c${i % 2}` },
    healthy: true,
    ephemeral: false,
    ttlSeconds: 30,
  };
}

/** Every service gets an inbound rule (two subsets) and a subset-mode metadata route. */
function rulesFor(services, variant) {
  const inbound = new Map();
  const metadataRoutes = new Map();
  for (let s = 0; s < services; s++) {
    const key = `default/svc${s}`;
    const labels = variant.has(s) ? { env: 'gray', version: 'v1' } : { env: 'gray' };
    const destinations = [
      { name: 'gray', labels, priority: 0, weight: 100, isolate: false },
      { name: 'prod', labels: { env: 'prod' }, priority: 1, weight: 100, isolate: false },
    ];
    inbound.set(key, [{
      name: `r${s}`, service: `svc${s}`, namespace: 'default', direction: 'inbound', sources: [],
      priorityGroups: [destinations], destinations, failover: { kind: 'all' },
    }]);
    metadataRoutes.set(key, { service: `svc${s}`, namespace: 'default', keys: ['user'], failover: 'none', mode: 'subset' });
  }
  return { version: variant.size, source: null, inbound, outbound: new Map(), metadataRoutes };
}

async function scenario(endpoints) {
  const services = Math.max(1, Math.round(endpoints / INSTANCES));
  const registry = new Registry();
  let rules = rulesFor(services, new Set());
  const listeners = new Set();
  const t0 = now();
  registry.batch(() => {
    for (let s = 0; s < services; s++) for (let i = 0; i < INSTANCES; i++) registry.upsert(instanceOf(s, i));
  });
  const xds = new XdsServer(
    {
      registry: () => registry.snapshot(),
      rules: () => rules,
      subscribe(listener) {
        listeners.add(listener);
        const off = registry.onChange(listener);
        return () => { listeners.delete(listener); off(); };
      },
    },
    { debounceMs: DEBOUNCE, maxDebounceMs: 1000, metrics: new MetricsRegistry(), log: createLogger('warn') },
  );
  const buildMs = now() - t0;
  const server = new grpc.Server({ 'grpc.max_concurrent_streams': 10000 });
  xds.register(server);
  const port = await new Promise((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const names = Array.from({ length: services }, (_, s) => `svc${s}.default`);
  const rows = [];
  const variant = new Set(); // services whose cluster the rules changed (kept across runs: `rules` is)

  for (const protocol of ['sotw', 'delta']) {
    const child = fork(path.join(__dirname, 'clients.js'), [JSON.stringify({ port, streams: STREAMS, perStream: PER_STREAM, services: names, protocol })], {
      execArgv: ['--max-old-space-size=8192'],
    });
    const inbox = [];
    let wake;
    child.on('message', (m) => {
      if (m.error) console.error(`client: ${m.error}`);
      else { inbox.push(m); wake?.(); }
    });
    const receive = async (key, timeoutMs = 120_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = inbox.findIndex((m) => m[key]);
        if (i >= 0) return inbox.splice(i, 1)[0];
        if (Date.now() > deadline) throw new Error(`no '${key}' from clients within ${timeoutMs} ms`);
        await new Promise((r) => { wake = r; setTimeout(r, 100); });
      }
    };

    const cpuSync = process.cpuUsage();
    const syncStart = now();
    await receive('ready', 300_000);
    const syncMs = now() - syncStart;
    const syncCpu = cpuSeconds(process.cpuUsage(cpuSync));
    await sleep(500);

    // Endpoint changes: one endpoint of one service, one change at a time.
    const latencies = [];
    const worst = [];
    let bytes = 0;
    let receivers = 0;
    let missing = 0;
    const cpuChanges = process.cpuUsage();
    for (let k = 0; k < CHANGES; k++) {
      const s = Math.floor(random() * services);
      child.send({ arm: names[s], types: [EDS], timeoutMs: 5000 });
      await receive('armed');
      const i = Math.floor(random() * INSTANCES);
      const current = registry.get('default', `svc${s}`, `i${i}`);
      const at = now();
      registry.upsert({ ...current, weight: current.weight === 100 ? 101 : 100 });
      const done = await receive('done');
      const lat = done.times.map((t) => t - at);
      latencies.push(...lat);
      worst.push(Math.max(...lat));
      bytes += done.bytes;
      receivers += done.times.length;
      missing += done.missing;
    }
    const changeCpu = cpuSeconds(process.cpuUsage(cpuChanges));

    // Cluster changes: a rules edit that alters one service's subset selectors.
    let clusterBytes = 0;
    let clusterReceivers = 0;
    for (let k = 0; k < CLUSTER_CHANGES; k++) {
      const s = Math.floor(random() * services);
      child.send({ arm: names[s], types: [CDS, EDS], timeoutMs: 5000 });
      await receive('armed');
      if (variant.has(s)) variant.delete(s); else variant.add(s);
      rules = rulesFor(services, variant);
      for (const l of listeners) l('all');
      const done = await receive('done');
      clusterBytes += done.bytes;
      clusterReceivers += done.times.length;
      missing += done.missing;
    }

    latencies.sort((a, b) => a - b);
    worst.sort((a, b) => a - b);
    rows.push({
      endpoints: services * INSTANCES,
      protocol,
      syncS: (syncMs / 1000).toFixed(1),
      syncCpu: syncCpu.toFixed(1),
      p50: percentile(latencies, 50).toFixed(1),
      p99: percentile(latencies, 99).toFixed(1),
      worstP99: percentile(worst, 99).toFixed(1),
      bytesPerChange: Math.round(bytes / Math.max(1, receivers)),
      bytesPerClusterChange: Math.round(clusterBytes / Math.max(1, clusterReceivers)),
      changeCpuMs: ((changeCpu / CHANGES) * 1000).toFixed(2),
      missing,
    });
    child.send({ stop: true });
    await new Promise((r) => child.once('exit', r));
  }
  xds.close();
  server.forceShutdown();
  return { services, buildMs, rows };
}

function cpuSeconds(usage) {
  return (usage.user + usage.system) / 1e6;
}

function table(rows) {
  const cols = [
    ['endpoints', 'endpoints'], ['protocol', 'proto'], ['syncS', 'sync s'], ['syncCpu', 'sync cpu s'],
    ['p50', 'p50 ms'], ['p99', 'p99 ms'], ['worstP99', 'p99 last-stream ms'],
    ['bytesPerChange', 'B/stream/endpoint chg'], ['bytesPerClusterChange', 'B/stream/cluster chg'],
    ['changeCpuMs', 'cpu ms/chg'], ['missing', 'missed'],
  ];
  const widths = cols.map(([k, h]) => Math.max(h.length, ...rows.map((r) => String(r[k]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join('  ');
  console.log(line(cols.map(([, h]) => h)));
  for (const r of rows) console.log(line(cols.map(([k]) => r[k])));
}

(async () => {
  console.log(`xDS bench: ${STREAMS} ADS streams x ${PER_STREAM} clusters, ${INSTANCES} instances/service, ` +
    `${CHANGES} endpoint changes + ${CLUSTER_CHANGES} cluster changes per run, debounce ${DEBOUNCE} ms, node ${process.version}`);
  const rows = [];
  for (const endpoints of SCALES) {
    const { services, buildMs, rows: r } = await scenario(endpoints);
    console.log(`  ${endpoints} endpoints (${services} services): initial build ${buildMs.toFixed(0)} ms`);
    rows.push(...r);
  }
  console.log('');
  table(rows);
  const cpu = process.cpuUsage();
  console.log(`\nserver: peak RSS ${mib(peakRss)} MiB (maxRSS ${mib(process.resourceUsage().maxRSS * 1024)} MiB), ` +
    `CPU ${cpuSeconds(cpu).toFixed(1)} s user+sys over ${(process.uptime()).toFixed(0)} s`);
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
