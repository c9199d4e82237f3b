import { api, until } from '../support/app';
import { ENVOY } from '../support/envoy';
import { describeWith } from '../support/requires';
import { Gateway, type GatewayRequest } from './gateway-harness';

/**
 * Per-user containers (endpoint mode through override_host, the user from the verified JWT),
 * and the nearby, canary and recover routers, through a real Envoy running the shipped
 * envoy/gateway.yaml. Each answer is checked against the backend that served it and against
 * explain.
 */

const RULES = `
rules:
  - name: gold-first
    service: shop
    sources: [{ arguments: [{ type: header, key: x-gold, match: { type: EXISTS } }] }]
    destinations: [{ name: gold, labels: { tier: gold } }]
    failover: gold
metadataRoutes:
  - service: aigc
    keys: [user]
    mode: endpoint
    from: claim
    claims: { user: sub }
    failover: none
`;

describeWith(ENVOY, 'gateway through real Envoy: per-user containers and routers', () => {
  let gw: Gateway;
  const aigc = (path: string, headers: Record<string, string> = {}, claims?: Record<string, unknown>): GatewayRequest => ({ path, cluster: 'aigc.default', headers, claims });
  const shop = (headers: Record<string, string> = {}): GatewayRequest => ({ path: '/', cluster: 'shop.default', headers });


  beforeAll(async () => {
    gw = await Gateway.start();
    await gw.backend('user-A', 'aigc', { user: 'A' });
    await gw.backend('user-B', 'aigc', { user: 'B' });
    await gw.backend('near', 'shop', {}, { locality: { zone: 'z1' } });
    await gw.backend('near-down', 'shop', {}, { locality: { zone: 'z1' }, healthy: false });
    await gw.backend('far', 'shop', {}, { locality: { zone: 'z2' } });
    await gw.backend('canary-v2', 'shop', { canary: 'v2' });
    await gw.backend('gold', 'shop', { tier: 'gold' }, { healthy: false });
    await gw.rules(RULES);
    // An unknown user's 503 shows ext_proc has the rules; Envoy may still lack aigc.default's
    // override_host cluster or its endpoints (a loaded CI machine answered user A with 503 then).
    await gw.untilStatus(aigc('/aigc/chat', {}, { sub: 'C' }), 503);
    await gw.untilEnvoyCluster('aigc.default', 2, 'override_host');
  }, 120_000);

  afterAll(async () => {
    await gw?.stop();
  });

  describe('per-user containers', () => {
    test("user A reaches A's container, user B B's, and Envoy's access log names the metadata route that decided", async () => {
      for (let i = 0; i < 10; i++) {
        await gw.expectRoute(aigc('/aigc/chat', {}, { sub: 'A' }), { ids: ['user-A'] });
        await gw.expectRoute(aigc('/aigc/chat', {}, { sub: 'B' }), { ids: ['user-B'] });
      }
      const routed = () => gw.accessLog().filter((l) => l['cluster'] === 'aigc.default' && l['status'] === 200);
      await until(() => routed().length >= 20, 'the access-log lines of those requests');
      for (const line of routed()) expect(line['metaroute']).toEqual({ metadataRoute: 'default/aigc' });
    });

    test('an unknown user gets the configured failover: 503 for none', async () => {
      await gw.expectRoute(aigc('/aigc/chat', {}, { sub: 'C' }), { status: 503 });
    });

    test("a forged key value (query, header, cookie) never reaches someone else's container", async () => {
      for (const [path, headers] of [['/aigc/chat?user=B', {}], ['/aigc/chat', { user: 'B' }], ['/aigc/chat', { cookie: 'user=B' }]] as const) {
        await gw.expectRoute(aigc(path, headers, { sub: 'A' }), { ids: ['user-A'] });
        await gw.expectRoute(aigc(path, headers), { status: 503 }); // anonymous: no verified user
      }
      // A token the gateway cannot verify is refused by Envoy's jwt_authn before metaroute.
      const forged = await fetch(`${gw.url}/aigc/chat`, { headers: { authorization: `Bearer ${(await gw.token({ sub: 'B' })).slice(0, -4)}AAAA` } });
      expect(forged.status).toBe(401);
    });

    test("a user's requests are spread over the user's containers (Envoy's override_host takes the first listed)", async () => {
      const second = await gw.backend('user-B2', 'aigc', { user: 'B' });
      await gw.until(aigc('/aigc/chat', {}, { sub: 'B' }), ['user-B2']);
      expect(await gw.answered(aigc('/aigc/chat', {}, { sub: 'B' }), 40)).toEqual(['user-B', 'user-B2']);
      expect((await api(gw.admin, 'DELETE', `/v1/instances/default/aigc/${encodeURIComponent(`127.0.0.1:${second.port}`)}`)).status).toBeLessThan(300);
      expect(await gw.answered(aigc('/aigc/chat', {}, { sub: 'B' }), 10)).toEqual(['user-B']);
    });

    test('a container that goes away is never replaced by another user\'s', async () => {
      const res = await api(gw.admin, 'DELETE', '/v1/instances/default/aigc/' + encodeURIComponent(`127.0.0.1:${(await gw.send(aigc('/aigc/x', {}, { sub: 'B' }))).backend!.port}`));
      expect(res.status).toBeLessThan(300);
      await gw.until(aigc('/aigc/chat', {}, { sub: 'A' }), ['user-A']);
      for (let i = 0; i < 5; i++) await gw.expectRoute(aigc('/aigc/chat', {}, { sub: 'B' }), { status: 503 });
    });

    test("a container registered again for another user (its address, a new id) no longer answers the first user", async () => {
      const { port } = gw.backendById('user-A');
      const res = await api(gw.admin, 'POST', '/v1/instances', { service: 'aigc', id: 'reused-for-D', host: '127.0.0.1', port, metadata: { user: 'D' }, ephemeral: false });
      expect(res.status).toBeLessThan(300);
      await gw.untilStatus(aigc('/aigc/chat', {}, { sub: 'A' }), 503);
      for (let i = 0; i < 5; i++) {
        await gw.expectRoute(aigc('/aigc/chat', {}, { sub: 'D' }), { ids: ['user-A'] }); // the same server, now D's
        await gw.expectRoute(aigc('/aigc/chat', {}, { sub: 'A' }), { status: 503 });
      }
    });
  });

  describe('nearby, with degrade', () => {
    test('the caller zone (z1, from the gateway bootstrap) is preferred while it is healthy enough', async () => {
      await gw.routerConfig('nearby', { enabled: true, matchLevel: 'zone', maxMatchLevel: 'all', healthyRatioThreshold: 0.4 });
      await gw.until(shop(), ['near']);
      expect(await gw.answered(shop(), 20)).toEqual(['near']);
    });

    test('below the healthy ratio the zone is left for any locality (never the unhealthy instance)', async () => {
      await gw.routerConfig('nearby', { enabled: true, matchLevel: 'zone', maxMatchLevel: 'all', healthyRatioThreshold: 0.6 });
      const ids = await gw.answered(shop(), 60);
      expect(ids).toContain('far');
      expect(ids).not.toContain('near-down');
      await gw.routerConfig('nearby', { enabled: false });
    });
  });

  describe('canary', () => {
    test('only requests that ask for the canary (rpc-persist-canary, the header a client may send) reach it', async () => {
      await gw.routerConfig('canary', { enabled: true, key: 'canary' });
      await gw.until(shop({ 'rpc-persist-canary': 'v2' }), ['canary-v2']);
      expect(await gw.answered(shop({ 'rpc-persist-canary': 'v2' }), 10)).toEqual(['canary-v2']);
      expect(await gw.answered(shop(), 30)).not.toContain('canary-v2');
      await gw.routerConfig('canary', { enabled: false });
    });
  });

  describe('recover', () => {
    test('recover-all: a choice with no healthy instance widens to the whole service', async () => {
      const ids = await gw.answered(shop({ 'x-gold': '1' }), 20);
      expect(ids).not.toContain('gold');
      expect(ids).not.toContain('none');
      const explained = await gw.explain(shop({ 'x-gold': '1' }));
      expect(explained.rule).toBe('gold-first');
      expect(explained.steps.find((s: { router: string }) => s.router === 'recover')).toMatchObject({ before: 1 });
    });
  });
});
