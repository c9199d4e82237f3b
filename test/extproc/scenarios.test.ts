import { ExtProcClient, explainedRule, explanation, lbLabels, setHeaders } from '../support/extproc-client';
import { api, startApp, until } from '../support/app';

/** The user scenarios of the core issue, end to end: HTTP registration + rules API, then ext_proc over real gRPC. */
const RULES = `
rules:
  - name: staff-to-gray
    service: shop
    sources:
      - arguments: [{ type: header, key: x-user-role, match: { type: EXACT, value: staff } }]
    destinations: [{ name: gray, labels: { version: gray } }]
  - name: vip-to-high-assurance
    service: shop
    sources:
      - arguments: [{ type: claim, key: tier, match: { type: IN, value: "vip,svip" } }]
    destinations: [{ name: ha, labels: { pool: high-assurance } }]
  - name: even-users-blue
    service: shop
    sources:
      - arguments: [{ type: query, key: uid, match: { type: REGEX, value: "[02468]$" } }]
    destinations: [{ name: blue, labels: { color: blue } }]
  - name: blue-green
    service: web
    destinations:
      - { name: blue, labels: { color: blue }, weight: 50 }
      - { name: green, labels: { color: green }, weight: 50 }
  - name: sticky-blue-green
    service: cart
    destinations:
      - { name: blue, labels: { color: blue }, weight: 50 }
      - { name: green, labels: { color: green }, weight: 50 }
    stickyBy: { type: header, key: x-user-id }
metadataRoutes:
  - service: aigc
    keys: [user]
    mode: endpoint
    failover: none
`;

let env: Awaited<ReturnType<typeof startApp>>;
let client: ExtProcClient;

const register = (service: string, port: number, metadata: Record<string, string>) =>
  api(env.admin, 'POST', '/v1/instances', { service, host: '10.0.0.1', port, metadata, ephemeral: false });

beforeAll(async () => {
  env = await startApp();
  client = new ExtProcClient(env.extProc);
  const registrations = [
    register('aigc', 9001, { user: 'A' }),
    register('aigc', 9002, { user: 'B' }),
    register('shop', 8001, { version: 'gray' }),
    register('shop', 8002, { version: 'stable', pool: 'high-assurance' }),
    register('shop', 8003, { version: 'stable', color: 'blue' }),
    register('web', 7001, { color: 'blue' }),
    register('web', 7002, { color: 'green' }),
    register('cart', 6001, { color: 'blue' }),
    register('cart', 6002, { color: 'green' }),
  ];
  for (const r of await Promise.all(registrations)) expect(r.status).toBe(200);
  expect((await api(env.admin, 'PUT', '/v1/rules', RULES)).status).toBe(200);
  await until(() => env.app.engine.current.registry.services.size === 4 && env.app.engine.current.rules.inbound.size === 3, 'registry and rules to be live');
});

afterAll(async () => {
  client.close();
  await env.app.stop();
});

const get = (authority: string, path = '/', extra: Record<string, string> = {}) => ({ ':method': 'GET', ':path': path, ':authority': authority, ':scheme': 'http', ...extra });

test('user A goes to user A\'s container (endpoint mode), from query, header or cookie', async () => {
  for (const headers of [get('aigc', '/gen?user=A'), get('aigc', '/gen', { user: 'A' }), get('aigc', '/gen', { cookie: 'theme=dark; user=A' })]) {
    const answer = await client.request(headers);
    expect(lbLabels(answer)).toEqual({ 'x-gateway-destination-endpoint': '10.0.0.1:9001' });
  }
});

test('an unknown user gets the configured failover: 503 with a body', async () => {
  const answer = await client.request(get('aigc', '/gen?user=Z'));
  expect(answer.immediate_response.status.code).toBe(503);
  expect(answer.immediate_response.body.toString()).toMatch(/no instance/);
});

test('staff go to gray, and the answer names the rule for the access log', async () => {
  const answer = await client.request(get('shop.default', '/', { 'x-user-role': 'staff' }));
  expect(lbLabels(answer)).toEqual({ version: 'gray' });
  expect(explainedRule(answer)).toBe('staff-to-gray');
});

test("a metadata route's decision names the route for the access log, as a rule's names the rule (both when both applied)", async () => {
  expect(explanation(await client.request(get('aigc', '/gen?user=A')))).toEqual({ metadataRoute: 'default/aigc' });
  // A subset-mode route on shop too: it narrows what the rules leave, or fails over to it.
  const rules = RULES.replace('metadataRoutes:\n', 'metadataRoutes:\n  - service: shop\n    keys: [color]\n    failover: all\n');
  expect((await api(env.admin, 'PUT', '/v1/rules', rules)).status).toBe(200);
  await until(() => env.app.engine.current.rules.metadataRoutes.has('default/shop'), 'the metadata route on shop');
  const matched = await client.request(get('shop', '/', { color: 'blue' }));
  expect({ lb: lbLabels(matched), why: explanation(matched) }).toEqual({ lb: { color: 'blue' }, why: { metadataRoute: 'default/shop' } });
  const failedOver = await client.request(get('shop', '/', { 'x-user-role': 'staff' }));
  expect({ lb: lbLabels(failedOver), why: explanation(failedOver) }).toEqual({ lb: { version: 'gray' }, why: { rule: 'staff-to-gray', metadataRoute: 'default/shop' } });
  expect((await api(env.admin, 'PUT', '/v1/rules', RULES)).status).toBe(200);
  await until(() => !env.app.engine.current.rules.metadataRoutes.has('default/shop'), 'the rules as they were');
});

test('VIP (a verified claim forwarded by jwt_authn) goes to the high-assurance pool', async () => {
  const answer = await client.request(get('shop', '/'), {
    metadataContext: { 'envoy.filters.http.jwt_authn': { jwt_payload: { sub: 'u1', tier: 'vip' } } },
  });
  expect(lbLabels(answer)).toEqual({ pool: 'high-assurance' });
});

test('even user ids go to blue, odd ones match no rule and pass through', async () => {
  expect(lbLabels(await client.request(get('shop', '/item?uid=1234')))).toEqual({ color: 'blue' });
  const odd = await client.request(get('shop', '/item?uid=1235'));
  expect(odd).toEqual({ request_headers: {} });
});

test('50/50 blue/green is within ±3% over 10,000 requests', async () => {
  const counts: Record<string, number> = { blue: 0, green: 0 };
  const headers = get('web');
  for (let batch = 0; batch < 20; batch++) {
    const answers = await Promise.all(Array.from({ length: 500 }, () => client.request(headers)));
    for (const a of answers) counts[lbLabels(a)!.color!]!++;
  }
  expect(counts.blue! + counts.green!).toBe(10000);
  expect(Math.abs(counts.blue! / 10000 - 0.5)).toBeLessThanOrEqual(0.03);
});

test('with stickyBy the same user always lands on the same group, and users spread over both', async () => {
  const groupOf = async (user: string) => lbLabels(await client.request(get('cart', '/', { 'x-user-id': user })))!.color;
  const seen = new Set<string>();
  for (let u = 0; u < 40; u++) {
    const first = await groupOf(`user-${u}`);
    for (let i = 0; i < 5; i++) expect(await groupOf(`user-${u}`)).toBe(first);
    seen.add(first!);
  }
  expect(seen).toEqual(new Set(['blue', 'green']));
});

test('the older `value` field is read like raw_value, and answers never set `value`', async () => {
  const answer = await client.request(get('shop', '/', { 'x-user-role': 'staff' }), { valueField: 'value' });
  expect(lbLabels(answer)).toEqual({ version: 'gray' });
  expect(setHeaders(answer)).toEqual({});
});

test('a rule update applied while requests flow changes decisions with no failed stream', async () => {
  const flip = (to: string) => RULES.replace('labels: { version: gray }', `labels: { version: ${to} }`);
  let failures = 0;
  const seen = new Set<string>();
  let running = true;
  const load = (async () => {
    while (running) {
      const answers = await Promise.allSettled(Array.from({ length: 50 }, () => client.request(get('shop', '/', { 'x-user-role': 'staff' }))));
      for (const a of answers) {
        if (a.status === 'rejected') failures++;
        else seen.add(lbLabels(a.value)!.version!);
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  expect((await api(env.admin, 'PUT', '/v1/rules', flip('stable'))).status).toBe(200);
  await until(() => seen.has('stable'), 'the new rule to be seen by requests');
  running = false;
  await load;
  expect(failures).toBe(0);
  expect(seen).toEqual(new Set(['gray', 'stable']));
  expect((await api(env.admin, 'PUT', '/v1/rules', RULES)).status).toBe(200);
});

test('a rule destination naming another cluster switches the request there: header, route cache cleared, subset labels', async () => {
  // First rule of `web`, so it is tried before the catch-all blue-green rule.
  const rules = RULES.replace('  - name: blue-green\n', `  - name: beta-to-shop
    service: web
    sources: [{ arguments: [{ type: header, key: x-beta, match: { type: EXISTS } }] }]
    destinations: [{ name: v2, cluster: shop.default, labels: { version: gray } }]
  - name: blue-green
`);
  const put = await api(env.admin, 'PUT', '/v1/rules', rules);
  expect(put.status).toBe(200);
  await until(() => (env.app.engine.current.rules.inbound.get('default/web')?.length ?? 0) === 2, 'the cluster-switch rule');
  const answer = await client.request(get('web', '/', { 'x-beta': '1' }));
  expect(setHeaders(answer)).toEqual({ 'x-metaroute-cluster': 'shop.default' });
  expect(answer.request_headers.response.clear_route_cache).toBe(true);
  expect(lbLabels(answer)).toEqual({ version: 'gray' });
  expect((await api(env.admin, 'PUT', '/v1/rules', RULES)).status).toBe(200);
});

test('an endpoint-mode service with failover all still gets an address (its ORIGINAL_DST cluster needs one)', async () => {
  expect((await api(env.admin, 'PUT', '/v1/rules', RULES.replace('mode: endpoint\n    failover: none', 'mode: endpoint\n    failover: all'))).status).toBe(200);
  await until(() => env.app.engine.current.rules.metadataRoutes.get('default/aigc')?.failover === 'all', 'failover all');
  const answer = await client.request(get('aigc', '/gen?user=Z'));
  expect(lbLabels(answer)?.['x-gateway-destination-endpoint']?.split(',').sort()).toEqual(['10.0.0.1:9001', '10.0.0.1:9002']);
  expect((await api(env.admin, 'PUT', '/v1/rules', RULES)).status).toBe(200);
});
