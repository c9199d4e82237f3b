import { api } from '../support/app';
import { ENDPOINT_LIST_KEY } from '../../src/model/envoy-contract';
import { ENVOY } from '../support/envoy';
import { describeWith } from '../support/requires';
import { Gateway, type GatewayRequest } from './gateway-harness';

/**
 * Make-before-break through a real Envoy: requests flow at a steady rate while rules that need
 * other subset selectors are put and replaced. Every request the isolation rule decided
 * (Envoy's access log names the rule) must reach the isolated instance, and none may fail.
 */

const ISOLATE = `
rules:
  - name: isolate
    service: shop
    sources: [{ arguments: [{ type: header, key: x-team, match: { type: EXACT, value: a } }] }]
    destinations: [{ name: team-a, labels: { team: a } }]
    failover: none
`;
// Replaces the rule: its selector ({team}) goes, another one ({pool}) comes.
const POOLS = `
rules:
  - name: pools
    service: shop
    sources: [{ arguments: [{ type: header, key: x-team, match: { type: EXACT, value: a } }] }]
    destinations: [{ name: pool-b, labels: { pool: b } }]
    failover: none
`;

const request: GatewayRequest = { path: '/', cluster: 'shop.default', headers: { 'x-team': 'a' } };

/** Access-log lines of requests the named rule decided, with where they went. */
function decidedBy(gw: Gateway, rule: string): Array<{ upstream: unknown; status: unknown }> {
  return gw.accessLog()
    .filter((l) => (l['metaroute'] as { rule?: string } | null)?.rule === rule)
    .map((l) => ({ upstream: l['upstream'], status: l['status'] }));
}

/** Puts ISOLATE, then POOLS, while requests flow (at least `minMs`); returns what the traffic saw. */
async function changeUnderLoad(gw: Gateway, minMs = 0): Promise<{ statuses: Map<number, number>; isolate: Array<{ upstream: unknown }>; pools: Array<{ upstream: unknown }> }> {
  const started = Date.now();
  const traffic = gw.traffic(request);
  await new Promise((r) => setTimeout(r, 300));
  expect((await api(gw.admin, 'PUT', '/v1/rules', ISOLATE)).status).toBe(200);
  await gw.until(request, ['team-a']);
  await new Promise((r) => setTimeout(r, 300));
  expect((await api(gw.admin, 'PUT', '/v1/rules', POOLS)).status).toBe(200);
  await gw.until(request, ['pool-b']);
  await new Promise((r) => setTimeout(r, Math.max(300, minMs - (Date.now() - started))));
  const statuses = new Map<number, number>();
  for (const { status } of await traffic.stop()) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  const isolate = decidedBy(gw, 'isolate');
  const pools = decidedBy(gw, 'pools');
  return { statuses, isolate, pools };
}

describeWith(ENVOY, 'rule changes roll out make-before-break through real Envoy', () => {
  test('no request of an isolation rule reaches an instance outside its subset, and none fails', async () => {
    const gw = await Gateway.start();
    try {
      const a = await gw.backend('team-a', 'shop', { team: 'a' });
      const b = await gw.backend('pool-b', 'shop', { pool: 'b' });
      await gw.backend('other', 'shop', { version: 'v1' });
      await gw.until({ path: '/', cluster: 'shop.default' }, ['team-a', 'pool-b', 'other']);
      const { statuses, isolate, pools } = await changeUnderLoad(gw);
      expect(Object.fromEntries(statuses)).toEqual({ 200: expect.any(Number) });
      expect(isolate.length).toBeGreaterThan(20);
      expect(pools.length).toBeGreaterThan(20);
      expect(isolate.filter((l) => l.upstream !== `127.0.0.1:${a.port}`)).toEqual([]);
      expect(pools.filter((l) => l.upstream !== `127.0.0.1:${b.port}`)).toEqual([]);
      // Convergence is visible: per type in the histogram, per proxy in the config dump.
      const metrics = await (await fetch(`${gw.admin}/metrics`)).text();
      expect(metrics).toMatch(/^metaroute_xds_convergence_seconds_count\{type="cds"\} [1-9]/m);
      const dump = (await api(gw.admin, 'GET', '/config_dump')).json;
      const stream = dump.xds.streams.find((s: any) => s.node?.id === 'gateway-0');
      expect(stream.types.cds.last_ack).toMatchObject({ convergedMs: expect.any(Number) });
      expect(stream.types.cds.nack).toBeNull();
    } finally {
      await gw.stop();
    }
  }, 120_000);

  test('with workers: 2, every ext_proc worker switches when the primary does', async () => {
    const gw = await Gateway.start({ workers: 2 });
    try {
      const a = await gw.backend('team-a', 'shop', { team: 'a' });
      const b = await gw.backend('pool-b', 'shop', { pool: 'b' });
      await gw.backend('other', 'shop', { version: 'v1' });
      await gw.until({ path: '/', cluster: 'shop.default' }, ['team-a', 'pool-b', 'other']);
      // Over 900 requests: Envoy opens its next ext_proc connection (max_requests_per_connection), which goes to the other worker.
      const { statuses, isolate, pools } = await changeUnderLoad(gw, 5000);
      expect(Object.fromEntries(statuses)).toEqual({ 200: expect.any(Number) });
      expect(isolate.length).toBeGreaterThan(20);
      expect(pools.length).toBeGreaterThan(20);
      expect(isolate.filter((l) => l.upstream !== `127.0.0.1:${a.port}`)).toEqual([]);
      expect(pools.filter((l) => l.upstream !== `127.0.0.1:${b.port}`)).toEqual([]);
      const workers = (await api(gw.admin, 'GET', '/config_dump')).json.workers as Array<{ decisions: number }>;
      expect(workers.map((w) => w.decisions > 0)).toEqual([true, true]);
    } finally {
      await gw.stop();
    }
  }, 120_000);

  test('a router config that adds label keys (the lane router) rolls out the same way', async () => {
    const gw = await Gateway.start();
    try {
      const lane = await gw.backend('dev1', 'shop', { env: 'dev1' });
      await gw.backend('base', 'shop');
      await gw.until({ path: '/', cluster: 'shop.default' }, ['dev1', 'base']);
      const laneRequest: GatewayRequest = { path: '/', cluster: 'shop.default', headers: { 'rpc-persist-env': 'dev1' } };
      const traffic = gw.traffic(laneRequest);
      await new Promise((r) => setTimeout(r, 300));
      await gw.routerConfig('lane', { enabled: true, key: 'env' });
      await gw.until(laneRequest, ['dev1']);
      await new Promise((r) => setTimeout(r, 500));
      const answers = await traffic.stop();
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
      const laneDecisions = gw.accessLog().filter((l) => (l['envoy_lb'] as { env?: string } | null)?.env === 'dev1');
      expect(laneDecisions.length).toBeGreaterThan(20);
      expect(laneDecisions.filter((l) => l['upstream'] !== `127.0.0.1:${lane.port}`)).toEqual([]);
    } finally {
      await gw.stop();
    }
  }, 120_000);

  test('switching a service between subset and endpoint mode (per-user containers) rolls out the same way', async () => {
    const gw = await Gateway.start();
    const routes = (mode: string): string => `
metadataRoutes:
  - service: aigc
    keys: [user]
    mode: ${mode}
    from: claim
    claims: { user: sub }
    failover: none
`;
    try {
      const a = await gw.backend('user-A', 'aigc', { user: 'A' });
      await gw.backend('user-B', 'aigc', { user: 'B' });
      const userA: GatewayRequest = { path: '/aigc/chat', cluster: 'aigc.default', headers: {}, claims: { sub: 'A' } };
      await gw.rules(routes('subset'));
      // Round robin reaches A's container by chance before the route is live; an unknown user's 503 says it is.
      await gw.untilStatus({ ...userA, claims: { sub: 'C' } }, 503);
      await gw.until(userA, ['user-A']);
      const endpointDecisions = (): number => gw.accessLog().filter((l) => ENDPOINT_LIST_KEY in ((l['envoy_lb'] as object | null) ?? {})).length;
      const labelDecisions = (): number => gw.accessLog().filter((l) => (l['envoy_lb'] as { user?: string } | null)?.user === 'A').length;
      /** Puts `mode` and waits (bounded) until 30 more requests were decided in it. */
      const switchTo = async (mode: string, decided: () => number): Promise<void> => {
        const before = decided();
        expect((await api(gw.admin, 'PUT', '/v1/rules', routes(mode))).status).toBe(200);
        for (let i = 0; i < 100 && decided() < before + 30; i++) await new Promise((r) => setTimeout(r, 100));
        expect(decided()).toBeGreaterThanOrEqual(before + 30);
      };
      const traffic = gw.traffic(userA);
      await new Promise((r) => setTimeout(r, 300));
      await switchTo('endpoint', endpointDecisions);
      await switchTo('subset', labelDecisions);
      await new Promise((r) => setTimeout(r, 300));
      const answers = await traffic.stop();
      expect(answers.length).toBeGreaterThan(150);
      // Every request of user A, in either mode and in between, reached A's container and none failed.
      expect(answers.filter((x) => x.status !== 200 || x.id !== 'user-A')).toEqual([]);
      expect(gw.accessLog().filter((l) => l['status'] === 200 && l['upstream'] !== `127.0.0.1:${a.port}` && (l['envoy_lb'] as object | null))).toEqual([]);
    } finally {
      await gw.stop();
    }
  }, 120_000);

  test('adding and removing an endpoint-mode route (no subset selectors on the other side) fails no request', async () => {
    const gw = await Gateway.start();
    const endpointMode = 'metadataRoutes: [{ service: aigc, keys: [user], mode: endpoint, from: claim, claims: { user: sub } }]\n';
    try {
      await gw.backend('user-A', 'aigc', { user: 'A' });
      const userA: GatewayRequest = { path: '/aigc/chat', cluster: 'aigc.default', headers: {}, claims: { sub: 'A' } };
      await gw.until(userA, ['user-A']);
      const endpointDecisions = (): number => gw.accessLog().filter((l) => ENDPOINT_LIST_KEY in ((l['envoy_lb'] as object | null) ?? {})).length;
      const passDecisions = (): number => gw.accessLog().filter((l) => l['envoy_lb'] === null && l['status'] !== 503).length;
      const switchTo = async (rules: string, decided: () => number): Promise<void> => {
        const before = decided();
        expect((await api(gw.admin, 'PUT', '/v1/rules', rules)).status).toBe(200);
        for (let i = 0; i < 100 && decided() < before + 30; i++) await new Promise((r) => setTimeout(r, 100));
        expect(decided()).toBeGreaterThanOrEqual(before + 30);
      };
      const traffic = gw.traffic(userA);
      await new Promise((r) => setTimeout(r, 300));
      await switchTo(endpointMode, endpointDecisions);
      await switchTo('rules: []\n', passDecisions);
      await new Promise((r) => setTimeout(r, 800)); // past the rollout's drain of the endpoint-mode side
      const answers = await traffic.stop();
      expect(answers.length).toBeGreaterThan(150);
      // The only instance serves both sides: a subset-side request (no envoy.lb) must not meet override_host's no-host fallback.
      expect(answers.filter((x) => x.status !== 200 || x.id !== 'user-A')).toEqual([]);
    } finally {
      await gw.stop();
    }
  }, 120_000);
});
