import { ENVOY } from '../support/envoy';
import { describeWith } from '../support/requires';
import { Gateway, type Backend, type GatewayRequest } from './gateway-harness';

/**
 * Rule routing through a real Envoy running the shipped envoy/gateway.yaml: every request goes
 * into Envoy's listener and the test asserts which backend answered, then asks metaroute's
 * explain about the same request and checks that it names the same destination.
 */

const RULES = `
rules:
  - name: spoofed-isolation
    service: shop
    sources: [{ arguments: [{ type: header, key: x-isolate, match: { type: EXISTS } }] }]
    destinations: [{ name: nowhere, labels: { pool: nowhere } }]
    failover: none
  - name: staff-to-gray
    service: shop
    sources: [{ arguments: [{ type: header, key: x-user-role, match: { type: EXACT, value: staff } }] }]
    destinations: [{ name: gray, labels: { version: gray } }]
  - name: vip-to-ha
    service: shop
    sources: [{ arguments: [{ type: claim, key: tier, match: { type: EXACT, value: vip } }] }]
    destinations: [{ name: ha, labels: { pool: ha } }]
    failover: none
  - name: even-users-blue
    service: shop
    sources: [{ arguments: [{ type: query, key: uid, match: { type: REGEX, value: "[02468]$" } }] }]
    destinations: [{ name: blue, labels: { color: blue } }]
  - name: sticky-split
    service: shop
    sources: [{ arguments: [{ type: header, key: x-user-id, match: { type: EXISTS } }] }]
    destinations:
      - { name: blue, labels: { color: blue }, weight: 50 }
      - { name: green, labels: { color: green }, weight: 50 }
    stickyBy: { type: header, key: x-user-id }
  - name: split
    service: shop
    sources: [{ arguments: [{ type: header, key: x-split, match: { type: EXISTS } }] }]
    destinations:
      - { name: blue, labels: { color: blue }, weight: 50 }
      - { name: green, labels: { color: green }, weight: 50 }
  - name: tiers
    service: shop
    sources: [{ arguments: [{ type: header, key: x-tier, match: { type: EXISTS } }] }]
    destinations:
      - { name: gold, labels: { tier: gold }, priority: 0 }
      - { name: silver, labels: { tier: silver }, priority: 1 }
    failover: none
  - name: legacy-switch
    service: shop
    sources: [{ arguments: [{ type: path, match: { type: PREFIX, value: /legacy } }] }]
    destinations: [{ name: legacy, cluster: legacy.default, labels: { version: v1 } }]
  - name: vault-switch
    service: shop
    sources: [{ arguments: [{ type: path, match: { type: PREFIX, value: /vault } }] }]
    destinations: [{ name: u9, cluster: vault.default, labels: { user: u9 } }]
metadataRoutes:
  - service: vault
    keys: [user]
    mode: endpoint
    failover: none
`;

const SECRET_ENV = 'METAROUTE_E2E_SESSION_SECRET';

describeWith(ENVOY, 'gateway through real Envoy: rules', () => {
  let gw: Gateway;
  let legacyV2: Backend;
  const shop = (path: string, headers: Record<string, string> = {}, claims?: Record<string, unknown>): GatewayRequest => ({ path, cluster: 'shop.default', headers, claims });

  beforeAll(async () => {
    gw = await Gateway.start(
      // Smaller than Envoy's own 60 KiB limit, so metaroute's 431 is the one that answers;
      // metaroute's own JWT check on x-session (beside the gateway's jwt_authn) for its 401.
      { extProc: { maxHeaderBytes: 16384, identity: { jwt: { header: 'x-session', secretEnv: SECRET_ENV } } } },
      { [SECRET_ENV]: 'metaroute-e2e-secret-with-enough-bytes' },
    );
    await gw.backend('gray', 'shop', { version: 'gray' });
    await gw.backend('stable', 'shop', { version: 'stable' });
    await gw.backend('ha', 'shop', { pool: 'ha' });
    await gw.backend('blue', 'shop', { color: 'blue' });
    await gw.backend('green', 'shop', { color: 'green' });
    await gw.backend('gold', 'shop', { tier: 'gold' }, { healthy: false });
    await gw.backend('silver', 'shop', { tier: 'silver' });
    await gw.backend('legacy-v1', 'legacy', { version: 'v1' });
    legacyV2 = await gw.backend('legacy-v2', 'legacy', { version: 'v2' });
    await gw.backend('vault-u9', 'vault', { user: 'u9' });
    await gw.backend('vault-u8', 'vault', { user: 'u8' });
    await gw.rules(RULES);
    // Round robin reaches gray by chance before the rules are live; a 503 only they give says they are.
    await gw.untilStatus(shop('/', { 'x-isolate': '1' }), 503);
    await gw.until(shop('/', { 'x-user-role': 'staff' }), ['gray']);
    await gw.until({ path: '/legacy', cluster: 'shop.default' }, ['legacy-v1']);
    await gw.until({ path: '/vault', cluster: 'shop.default' }, ['vault-u9']);
  }, 120_000);

  afterAll(async () => {
    await gw?.stop();
  });

  test('a switch to an endpoint-mode cluster (override_host) reaches the instance its labels pick', async () => {
    for (let i = 0; i < 10; i++) await gw.expectRoute({ path: '/vault/doc', cluster: 'shop.default' }, { ids: ['vault-u9'] });
  });

  test('staff to gray', async () => {
    for (let i = 0; i < 20; i++) await gw.expectRoute(shop('/', { 'x-user-role': 'staff' }), { ids: ['gray'] });
  });

  test('VIP (a verified claim) to the high-assurance pool; the claim cannot be sent as a header', async () => {
    for (let i = 0; i < 10; i++) await gw.expectRoute(shop('/', {}, { sub: 'u1', tier: 'vip' }), { ids: ['ha'] });
    // A `tier` header is no claim: no rule applies, so the request is a pass (any instance may
    // answer it, ha included), never the VIP rule's decision.
    await gw.expectRoute(shop('/', { tier: 'vip' }), { ids: ['gray', 'stable', 'ha', 'blue', 'green', 'silver'] });
    expect(await gw.explain(shop('/', { tier: 'vip' }))).toMatchObject({ rule: '', decision: { kind: 'pass' } });
  });

  test('even user ids to blue, odd ones elsewhere', async () => {
    for (const uid of ['10', '32', '54', '76', '98']) await gw.expectRoute(shop(`/?uid=${uid}`), { ids: ['blue'] });
    for (const uid of ['11', '33']) {
      const answer = await gw.expectRoute(shop(`/?uid=${uid}`), {});
      expect(answer.status).toBe(200);
    }
  });

  test('50/50 blue/green within ±3% over 10,000 requests', async () => {
    const counts = new Map<string, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < 10_000) {
        next++;
        const answer = await gw.send(shop('/', { 'x-split': '1' }));
        const id = answer.backend?.id ?? String(answer.status);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect([...counts.keys()].sort()).toEqual(['blue', 'green']);
    expect(Math.abs(counts.get('blue')! / 10_000 - 0.5)).toBeLessThanOrEqual(0.03);
    // The draw is random per request: explain draws one of the same two groups, by the same rule.
    for (let i = 0; i < 5; i++) {
      const explained = await gw.explain(shop('/', { 'x-split': '1' }));
      expect({ rule: explained.rule, decision: explained.decision }).toEqual({ rule: 'split', decision: { kind: 'subset', labels: { color: explained.decision.labels.color === 'blue' ? 'blue' : 'green' } } });
    }
  }, 300_000);

  test('the same user sticks to one group when hashing is on, and explain names that group', async () => {
    const seen = new Set<string>();
    for (let user = 0; user < 40; user++) {
      const request = shop('/', { 'x-user-id': `user-${user}` });
      const first = await gw.expectRoute(request, { ids: ['blue', 'green'] });
      for (let i = 0; i < 4; i++) await gw.expectRoute(request, { ids: [first.backend!.id] });
      seen.add(first.backend!.id);
    }
    expect([...seen].sort()).toEqual(['blue', 'green']);
  });

  test('priority fallthrough: the top group has no healthy instance, the next one serves', async () => {
    for (let i = 0; i < 10; i++) await gw.expectRoute(shop('/', { 'x-tier': 'any' }), { ids: ['silver'] });
  });

  test('cluster switch: a rule sends /legacy to the legacy cluster, v1 subset', async () => {
    for (let i = 0; i < 10; i++) await gw.expectRoute({ path: '/legacy/page', cluster: 'shop.default' }, { ids: ['legacy-v1'] });
  });

  test('each reject code, from metaroute through Envoy', async () => {
    await gw.expectRoute(shop('/', { 'x-isolate': '1' }), { status: 503 }); // failover: none
    await gw.expectRoute(shop('/', { 'x-metaroute-service': 'legacy' }), { status: 403 }); // edge guard
    await gw.expectRoute(shop('/', { 'rpc-persist-blob': 'x'.repeat(9000) }), { status: 400 }); // metadata size
    await gw.expectRoute(shop('/', { 'x-padding': 'x'.repeat(20_000) }), { status: 431 }); // header size
    await gw.expectRoute(shop('/', { 'x-session': 'Bearer not-a-token' }), { status: 401 }); // metaroute's own JWT check
    // A bad bearer token never reaches metaroute: Envoy's jwt_authn answers 401 itself.
    const res = await fetch(`${gw.url}/`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(res.status).toBe(401);
  });

  test("a client's own routing headers steer nothing: x-metaroute-cluster and x-gateway-destination-endpoint are gone before the route is chosen", async () => {
    // Not expectRoute: explain is told the headers as the client sent them, and metaroute refuses
    // a client's x-metaroute-* header at the edge; through Envoy it never sees them.
    const answeredBy = async (headers: Record<string, string>): Promise<unknown> => {
      const answer = await gw.send(shop('/', headers));
      expect(answer.body).toBe(answer.backend?.id); // the backend received neither header
      return answer.backend?.service ?? answer.status;
    };
    for (const cluster of ['legacy.default', 'metaroute_ext_proc']) {
      for (let i = 0; i < 5; i++) expect(await answeredBy({ 'x-metaroute-cluster': cluster })).toBe('shop'); // no rule applies: a pass
      expect((await gw.send(shop('/', { 'x-metaroute-cluster': cluster, 'x-user-role': 'staff' }))).backend?.id).toBe('gray');
    }
    for (let i = 0; i < 5; i++) expect(await answeredBy({ 'x-gateway-destination-endpoint': `127.0.0.1:${legacyV2.port}` })).toBe('shop');
  });

  test('the Host header does not matter: metaroute decides for the cluster the route chose', async () => {
    for (const host of ['localhost', 'shop.example.com', 'legacy.default']) {
      const res = await fetch(`${gw.url}/`, { headers: { host, 'x-user-role': 'staff' } });
      expect({ host, id: res.headers.get('x-instance') }).toEqual({ host, id: 'gray' });
    }
  });

  describe('wire details real Envoy holds metaroute to', () => {
    async function activeCluster(name: string): Promise<any> {
      const dump = JSON.parse((await gw.envoy.admin('/config_dump?resource=dynamic_active_clusters')).text);
      return dump.configs.map((c: any) => c.cluster).find((c: any) => c.name === name);
    }

    test('envoy.lb reaches Envoy (receiving_namespaces) and its key set is exactly one served selector, with string values like the endpoints', async () => {
      await gw.expectRoute(shop('/', { 'x-user-role': 'staff' }), { ids: ['gray'] });
      const cluster = await activeCluster('shop.default');
      const selectors: string[] = cluster.lb_subset_config.subset_selectors.map((s: { keys: string[] }) => [...s.keys].sort().join(','));
      const written = gw.accessLog().filter((l) => l['cluster'] === 'shop.default' && l['envoy_lb']);
      expect(written.length).toBeGreaterThan(100);
      for (const line of written) {
        const lb = line['envoy_lb'] as Record<string, unknown>;
        expect(selectors).toContain(Object.keys(lb).sort().join(','));
        for (const value of Object.values(lb)) expect(typeof value).toBe('string');
      }
      expect(written.some((l) => (l['envoy_lb'] as Record<string, unknown>)['version'] === 'gray')).toBe(true);
      const eds = JSON.parse((await gw.envoy.admin('/config_dump?resource=dynamic_endpoint_configs&include_eds')).text);
      const shopEndpoints = eds.configs.find((c: any) => c.endpoint_config.cluster_name === 'shop.default').endpoint_config.endpoints;
      for (const locality of shopEndpoints) {
        for (const endpoint of locality.lb_endpoints) {
          for (const value of Object.values(endpoint.metadata.filter_metadata['envoy.lb'])) expect(typeof value).toBe('string');
        }
      }
    });

    test('one ext_proc message per request (response headers skipped); Envoy closing the stream early is no error', async () => {
      const before = await gw.envoy.stat('http.gateway.ext_proc.metaroute.stream_msgs_sent');
      const requestsBefore = await gw.envoy.stat('http.gateway.downstream_rq_completed');
      for (let i = 0; i < 20; i++) await gw.send(shop('/', { 'x-user-role': 'staff' }));
      const sent = (await gw.envoy.stat('http.gateway.ext_proc.metaroute.stream_msgs_sent')) - before;
      const requests = (await gw.envoy.stat('http.gateway.downstream_rq_completed')) - requestsBefore;
      expect({ sent, requests }).toEqual({ sent: 20, requests: 20 });
      const metrics = await (await fetch(`${gw.admin}/metrics`)).text();
      expect(metrics).not.toMatch(/^metaroute_extproc_stream_errors_total\{[^}]*\} [1-9]/m);
      expect(gw.metaroute.logs.filter((l) => /error|fail/i.test(l))).toEqual([]);
      expect(gw.envoy.errors()).toEqual([]);
    });
  });
});
