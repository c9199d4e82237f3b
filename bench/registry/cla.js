// bench/registry/cla.js: what one ClusterLoadAssignment rebuild of a large cluster costs the
// event loop (what an Envoy subscribed to it costs per push), before vs after, interleaved.
// In process, through the xDS cache as the server uses it: a cluster of N endpoints in random
// order (as a ServiceView holds them), encoded once (each instance's endpoint encoded and
// cached); then, per round and variant, one instance replaced, a new lazy CLA put in the cache
// and made ready as a stream would make it (`prepare()` where the build is sliced, reading its
// version where it is not). Measured: wall time until ready, the main thread's CPU (user), and
// the longest the event loop was held (the longest gap between two turns of a setImmediate
// chain running beside the build).
// With NEW_KEYS=1 every rebuild has other selector keys (as after a rule change), so every
// endpoint is encoded again: the first build's cost, each round.
// Usage: node bench/registry/cla.js [BEFORE_DIST]   # N=100000 ROUNDS=5 NEW_KEYS=
'use strict';
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { triple, pairedRatios } = require('./stats');

const N = Number(process.env.N ?? 100000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const variants = [];
if (process.argv[2]) variants.push({ name: 'before', dist: path.resolve(process.argv[2]) });
variants.push({ name: 'after', dist: path.join(__dirname, '..', '..', 'dist') });
for (const v of variants) {
  const resources = require(path.join(v.dist, 'xds/resources.js'));
  const { ResourceCache } = require(path.join(v.dist, 'xds/cache.js'));
  v.cache = new ResourceCache();
  // The lazy build as each version's ResourceBuilder hands it to the cache.
  v.lazy = resources.assignmentSteps
    ? (instances, keys) => function* () { return (yield* resources.assignmentSteps('big.default', instances, keys)).any; }
    : (instances, keys) => () => resources.encodeAssignment('big.default', instances, keys).any;
}

const instance = (i, version = i % 2 ? 'gray' : 'stable') => ({
  id: `i${i}`, service: 'big', namespace: 'default', host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 100,
  metadata: { version, user: `u${i}` }, locality: {}, healthy: true, ephemeral: true, ttlSeconds: 30,
});
const instances = Array.from({ length: N }, (_, i) => instance(i));
for (let i = N - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [instances[i], instances[j]] = [instances[j], instances[i]];
}

const EDS = require(path.join(variants[0].dist, 'xds/types.js')).EDS;
const results = new Map();
const put = (key, value) => (results.get(key) ?? results.set(key, []).get(key)).push(value);
(async () => {
  for (const v of variants) { // first build: every endpoint encoded
    v.cache.putLazy(EDS, 'big.default', v.lazy(instances, ['version']));
    void v.cache.get(EDS, 'big.default').version;
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) {
      const at = Math.floor(Math.random() * N);
      instances[at] = instance(Number(instances[at].id.slice(1)), round % 2 ? 'gray' : 'stable');
      v.cache.putLazy(EDS, 'big.default', v.lazy(instances, process.env.NEW_KEYS === '1' ? ['version', `k${round}`] : ['version']));
      const resource = v.cache.get(EDS, 'big.default');
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let longest = 0;
      let last = t0;
      let running = true;
      const tick = () => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        if (running) setImmediate(tick);
      };
      setImmediate(tick);
      if (typeof resource.prepare === 'function') await resource.prepare();
      else await new Promise((r) => setImmediate(() => r(void resource.version))); // built and hashed at once, on one turn
      const t1 = performance.now();
      running = false;
      longest = Math.max(longest, t1 - last);
      put(`${v.name}/ready`, t1 - t0);
      put(`${v.name}/cpu`, process.cpuUsage(cpu0).user / 1000);
      put(`${v.name}/hold`, longest);
      put(`${v.name}/mib`, resource.any.length / 1048576);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  console.log(`\nbench/registry/cla: ${N} endpoints, one changed per rebuild${process.env.NEW_KEYS === '1' ? ', other selector keys each time (every endpoint encoded)' : ''}, ${ROUNDS} interleaved rounds; min / median / max; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log(`| ms | ${variants.map((v) => v.name).join(' | ')} |${variants.length > 1 ? ' after/before, paired median |' : ''}`);
  console.log(`|---|${variants.map(() => '---:|').join('')}${variants.length > 1 ? '---:|' : ''}`);
  for (const [metric, label] of [['ready', 'rebuild + version (wall)'], ['cpu', 'rebuild + version (CPU, user)'], ['hold', 'longest event-loop hold'], ['mib', 'size MiB']]) {
    const series = variants.map((v) => results.get(`${v.name}/${metric}`));
    const ratio = variants.length > 1 ? ` ${triple(pairedRatios(series[0], series[1]), 3).split(' / ')[1]} |` : '';
    console.log(`| ${label} | ${series.map((s) => triple(s)).join(' | ')} |${ratio}`);
  }
})();
