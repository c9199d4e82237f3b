import { api } from '../support/app';
import { ENVOY } from '../support/envoy';
import { describeWith } from '../support/requires';
import { Gateway, type GatewayRequest } from './gateway-harness';

/**
 * metaroute keeps a real Envoy right while instances come and go and while metaroute itself
 * fails: steady traffic through the shipped gateway, changes made through the admin API.
 */

const shop: GatewayRequest = { path: '/', cluster: 'shop.default' };
type Answer = { at: number; status: number; id: string | undefined };
type Bootstrap = Record<string, any>;

const failures = (answers: readonly Answer[]): Answer[] => answers.filter((a) => a.status !== 200);
const perSecond = (answers: readonly Answer[]): number => answers.length / ((answers[answers.length - 1]!.at - answers[0]!.at) / 1000);
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function extProcFilter(bootstrap: Bootstrap): Bootstrap {
  const hcm = bootstrap['static_resources'].listeners[0].filter_chains[0].filters[0].typed_config;
  return hcm.http_filters.find((f: Bootstrap) => f['name'] === 'envoy.filters.http.ext_proc').typed_config;
}

async function gatewayWithShop(adjust?: (b: Bootstrap) => void): Promise<Gateway> {
  const gw = await Gateway.start({}, {}, adjust);
  await gw.backend('s1', 'shop');
  await gw.backend('s2', 'shop');
  await gw.until(shop, ['s1']);
  await gw.until(shop, ['s2']);
  return gw;
}

describeWith(ENVOY, 'live changes through real Envoy', () => {
  test('under steady traffic: a new instance serves within 1 s, a removed one stops within 1 s, 1,000 registrations elsewhere change nothing; 0 failed requests', async () => {
    const gw = await gatewayWithShop();
    try {
      const traffic = gw.traffic(shop);
      await pause(500);
      const registeredAt = Date.now();
      await gw.backend('s3', 'shop');
      await pause(1500);
      const removedAt = Date.now();
      const s1 = gw.backendById('s1');
      expect((await api(gw.admin, 'DELETE', `/v1/instances/default/shop/${encodeURIComponent(`127.0.0.1:${s1.port}`)}`)).status).toBeLessThan(300);
      await pause(1500);
      const bulkStarted = Date.now();
      for (let i = 0; i < 1000; i += 20) {
        const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => api(gw.admin, 'POST', '/v1/instances', { service: 'bulk', host: '127.0.0.2', port: 20000 + i + j, ephemeral: false })));
        expect(batch.every((r) => r.status < 300)).toBe(true);
      }
      const bulkDone = Date.now();
      await pause(300);
      const answers = await traffic.stop();

      expect(failures(answers)).toEqual([]);
      expect(perSecond(answers)).toBeGreaterThanOrEqual(200);
      const firstS3 = answers.find((a) => a.id === 's3');
      expect(firstS3 && firstS3.at - registeredAt).toBeLessThanOrEqual(1000);
      const lastS1 = answers.filter((a) => a.id === 's1').pop()!;
      expect(lastS1.at - removedAt).toBeLessThanOrEqual(1000);
      expect(answers.filter((a) => a.at >= bulkStarted && a.at <= bulkDone).length).toBeGreaterThan(100);
    } finally {
      await gw.stop();
    }
  }, 180_000);

  test('ext_proc slower than message_timeout: the gateway answers 504', async () => {
    const gw = await gatewayWithShop();
    try {
      gw.metaroute.signal('SIGSTOP');
      const started = Date.now();
      const answer = await gw.send(shop);
      const took = Date.now() - started;
      gw.metaroute.signal('SIGCONT');
      expect(answer.status).toBe(504);
      expect(took).toBeGreaterThanOrEqual(190); // the 0.2 s message_timeout ran out, no sooner
      await gw.until(shop, ['s1', 's2']);
    } finally {
      await gw.stop();
    }
  }, 120_000);

  test('metaroute killed under traffic, fail closed (shipped): every request after the kill is a 500, none reaches a backend undecided', async () => {
    const gw = await gatewayWithShop();
    try {
      const traffic = gw.traffic(shop);
      await pause(300);
      const killedAt = Date.now();
      gw.metaroute.signal('SIGKILL');
      await gw.metaroute.exited();
      await pause(500);
      const answers = await traffic.stop();
      const after = answers.filter((a) => a.at > killedAt + 50);
      expect(after.length).toBeGreaterThan(10);
      expect(new Set(after.map((a) => a.status))).toEqual(new Set([500]));
    } finally {
      await gw.stop();
    }
  }, 120_000);

  test('metaroute killed with failure_mode_allow: true: requests continue to the route cluster', async () => {
    const gw = await gatewayWithShop((b) => (extProcFilter(b)['failure_mode_allow'] = true));
    try {
      const traffic = gw.traffic(shop);
      await pause(300);
      gw.metaroute.signal('SIGKILL');
      await gw.metaroute.exited();
      await pause(500);
      const answers = await traffic.stop();
      expect(failures(answers)).toEqual([]);
    } finally {
      await gw.stop();
    }
  }, 120_000);

  test('metaroute restarted: Envoy keeps its clusters and endpoints meanwhile, and the endpoint set never goes empty', async () => {
    const gw = await gatewayWithShop();
    try {
      let sampling = true;
      const members: number[] = [];
      const sampler = (async () => {
        while (sampling) {
          members.push(await gw.envoy.stat('cluster.shop.default.membership_total'));
          await pause(20);
        }
      })();
      gw.metaroute.signal('SIGKILL');
      await gw.metaroute.exited();
      await pause(500);
      await gw.metaroute.spawn();
      await gw.until(shop, ['s1', 's2']);
      await pause(500);
      sampling = false;
      await sampler;
      expect(members.length).toBeGreaterThan(10);
      expect(Math.min(...members)).toBe(2);
    } finally {
      await gw.stop();
    }
  }, 180_000);

  test('xDS unreachable when Envoy starts: Envoy waits, then converges once metaroute is back', async () => {
    const gw = await gatewayWithShop();
    try {
      gw.metaroute.signal('SIGKILL');
      await gw.metaroute.exited();
      await gw.restartEnvoy();
      // Envoy holds its listeners back while it waits for its first clusters (connection refused).
      const early = await gw.send(shop).then((a) => a.status, () => 'refused');
      expect(early).not.toBe(200);
      await gw.metaroute.spawn();
      await gw.until(shop, ['s1', 's2']);
    } finally {
      await gw.stop();
    }
  }, 180_000);
});
