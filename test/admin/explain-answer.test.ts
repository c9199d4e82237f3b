import * as path from 'node:path';
import { fnv1a } from '../../src/model/hash';
import { api, startApp, until } from '../support/app';

/**
 * What explain says beside the decision: the request header changes metaroute answers
 * (call-chain metadata propagation), and whether Envoy honours an endpoint list (only an
 * endpoint-mode cluster's override_host reads one).
 */

const MODULE = path.join(__dirname, '..', 'routing', 'fixtures', 'slot-pick-router.js');
let env: Awaited<ReturnType<typeof startApp>>;

beforeAll(async () => {
  env = await startApp({ routers: [{ name: undefined, module: MODULE, config: {} }] });
  for (const port of [1, 2, 3]) await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port, metadata: {} });
  await until(() => env.app.engine.current.registry.services.get('default/shop')?.all.instances.length === 3, 'shop registered');
});

afterAll(async () => {
  await env.app.stop();
});

const explain = async (body: object) => {
  const answer = await api(env.admin, 'POST', '/explain', body);
  expect(answer.status).toBe(200);
  return answer.json;
};

test("an outbound call's propagation: persistent metadata in every spelling, the caller's transitive labels, a copied transient value dropped", async () => {
  const explained = await explain({
    service: 'shop',
    side: 'outbound',
    caller: { service: 'web', labels: { env: 'dev1' }, transitive: [' env', ''] }, // as the live path reads its header: trimmed, empty dropped
    // t1 is what this instance received (its inbound call marked it): a copy, for one hop only.
    headers: { 'rpc-persist-x': 'p1', 'rpc-transit-t': 't1', 'rpc-persist-metaroute-transit-seen': `t=${fnv1a('t1').toString(36)}` },
  });
  expect(explained.headerMutation.set).toEqual(
    expect.arrayContaining([
      { key: 'rpc-persist-env', value: 'dev1' },
      { key: 'x-sct-metadata-transitive-x', value: 'p1' },
      { key: 'x-polaris-metadata-transitive-env', value: 'dev1' },
    ]),
  );
  expect(explained.headerMutation.remove).toEqual(['rpc-persist-metaroute-transit-seen', 'rpc-transit-t']);
});

test("an inbound call's propagation: the received transient values marked", async () => {
  const explained = await explain({ service: 'shop', side: 'inbound', headers: { 'rpc-transit-t': 't1' } });
  expect(explained.headerMutation).toEqual({ set: [{ key: 'rpc-persist-metaroute-transit-seen', value: expect.stringMatching(/^t=/) }], remove: [] });
});

test('a request refused before routing changes no header; one without metadata neither', async () => {
  expect((await explain({ service: 'shop', headers: { 'x-metaroute-cluster': 'x' } })).headerMutation).toEqual({ set: [], remove: [] });
  expect((await explain({ service: 'shop' })).headerMutation).toEqual({ set: [], remove: [] });
});

test('transitive keys given as a comma list are split, as the live path splits x-metaroute-caller-transitive', async () => {
  const explained = await explain({ service: 'shop', side: 'outbound', caller: { service: 'web', labels: { env: 'dev1', zone: 'z1' }, transitive: ['env, zone'] } });
  expect(explained.headerMutation.set).toEqual(expect.arrayContaining([{ key: 'rpc-persist-env', value: 'dev1' }, { key: 'rpc-persist-zone', value: 'z1' }]));
});

test('caller labels without a caller service are refused: the live path would read no caller', async () => {
  const answer = await api(env.admin, 'POST', '/explain', { service: 'shop', side: 'outbound', caller: { labels: { env: 'dev1' } } });
  expect({ status: answer.status, details: answer.json.details }).toEqual({ status: 400, details: ['caller.service: required with caller.namespace, labels or transitive (without it a request has no caller)'] });
});

test("a caller label value holding ',' is refused: x-metaroute-caller-labels could not carry it", async () => {
  const answer = await api(env.admin, 'POST', '/explain', { service: 'shop', side: 'outbound', caller: { service: 'web', labels: { env: 'dev1,zone=z1' } } });
  expect({ status: answer.status, details: answer.json.details }).toEqual({ status: 400, details: [`caller.labels.env: must hold no ',' (x-metaroute-caller-labels separates labels with it), got "dev1,zone=z1"`] });
});

test('a caller whose transitive keys are not a list of strings is refused, naming the field', async () => {
  const answer = await api(env.admin, 'POST', '/explain', { service: 'shop', caller: { service: 'web', transitive: 'env' } });
  expect({ status: answer.status, details: answer.json.details }).toEqual({ status: 400, details: ['caller.transitive: must be a list of strings'] });
});

test('labels a router adds without declaring their key are flagged as ignored by Envoy; declared ones are not', async () => {
  await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.2', port: 1, metadata: { slot: '1' } });
  await until(() => env.app.engine.current.registry.services.get('default/shop')?.all.instances.length === 4, 'the slot instance registered');
  const labelled = await explain({ service: 'shop', headers: { 'x-act': 'label', 'x-slot': '1' } });
  expect(labelled.decision).toEqual({ kind: 'subset', labels: { slot: '1' } });
  expect(labelled.labelsIgnored).toBe("shop.default has no subset selector with exactly the keys slot, so Envoy's load balancer picks any endpoint of the cluster: a router that adds label keys declares them in labelKeys()");
  expect((await explain({ service: 'shop' })).labelsIgnored).toBe('');
  expect((await api(env.admin, 'PUT', '/v1/rules', 'rules:\n  - { name: slots, service: shop, destinations: [{ name: one, labels: { slot: "1" } }] }\n')).status).toBe(200);
  await until(async () => (await explain({ service: 'shop' })).rule === 'slots', 'the rule to apply');
  expect((await explain({ service: 'shop' })).labelsIgnored).toBe('');
  expect((await api(env.admin, 'PUT', '/v1/rules', 'rules: []\n')).status).toBe(200);
  await api(env.admin, 'DELETE', '/v1/instances/default/shop/10.0.0.2:1');
  await until(() => env.app.engine.current.registry.services.get('default/shop')?.all.instances.length === 3, 'the slot instance gone');
});

test("a router's endpoint list on a subset-mode cluster is flagged as ignored by Envoy; on an endpoint-mode cluster it is not", async () => {
  const picked = await explain({ service: 'shop', headers: { 'x-act': 'pick', 'x-slot': '1' } });
  expect(picked.decision).toMatchObject({ kind: 'endpoints', endpoints: ['10.0.0.1:2'] });
  expect(picked.endpointsIgnored).toBe(
    'shop.default is in subset mode (no metadata route with mode: endpoint): Envoy reads an endpoint list only on an endpoint-mode (override_host) cluster, so its load balancer picks any endpoint of the cluster',
  );
  expect((await explain({ service: 'shop' })).endpointsIgnored).toBe('');
  const elsewhere = await explain({ service: 'shop', headers: { 'x-act': 'elsewhere' } });
  expect(elsewhere.decision).toMatchObject({ kind: 'cluster', cluster: 'external-api' });
  expect(elsewhere.endpointsIgnored).toBe("external-api is not a cluster metaroute serves: Envoy reads the endpoint list only if that cluster's own load-balancing policy is override_host");

  expect((await api(env.admin, 'PUT', '/v1/rules', 'metadataRoutes:\n  - { service: shop, keys: [user], mode: endpoint, failover: all }\n')).status).toBe(200);
  await until(async () => (await explain({ service: 'shop' })).decision.kind === 'endpoints', 'endpoint mode to apply');
  const inEndpointMode = await explain({ service: 'shop', headers: { 'x-act': 'pick', 'x-slot': '1' } });
  expect({ decision: inEndpointMode.decision, endpointsIgnored: inEndpointMode.endpointsIgnored }).toMatchObject({ decision: { kind: 'endpoints', endpoints: ['10.0.0.1:2'] }, endpointsIgnored: '' });
});

test('a rule that fell through to a lower-priority group, or to its failover, names the destinations it passed over and why', async () => {
  await api(env.admin, 'POST', '/v1/instances', { service: 'cart', host: '10.0.1.1', port: 1, metadata: { track: 'stable' } });
  const rules = [
    'rules:',
    '  - { name: canary-only, service: cart, sources: [{ arguments: [{ type: header, key: x-only, match: { type: EXACT, value: canary } }] }], destinations: [{ name: canary, labels: { track: canary } }], failover: none }',
    '  - { name: canary-first, service: cart, destinations: [{ name: canary, labels: { track: canary } }, { name: stable, labels: { track: stable }, priority: 1 }] }',
    '',
  ].join('\n');
  expect((await api(env.admin, 'PUT', '/v1/rules', rules)).status).toBe(200);
  await until(async () => (await api(env.admin, 'POST', '/explain', { service: 'cart' })).json?.rule === 'canary-first', 'the rules to apply');
  const canary = [{ destination: 'canary', priority: 0, reason: 'no instance has track=canary' }];

  const fell = await explain({ service: 'cart' });
  expect(fell.decision).toEqual({ kind: 'subset', labels: { track: 'stable' } });
  expect(fell.steps.find((s: { router: string }) => s.router === 'rule')).toEqual({ router: 'rule', before: 1, after: 1, labels: { track: 'stable' }, note: 'canary-first', skipped: canary });
  expect(fell.steps.filter((s: { router: string; skipped: unknown[] }) => s.router !== 'rule' && s.skipped.length > 0)).toEqual([]);

  const refused = await explain({ service: 'cart', headers: { 'x-only': 'canary' } });
  expect(refused.decision).toEqual({ kind: 'reject', status: 503, body: 'no healthy instance for rule canary-only' });
  expect(refused.steps.find((s: { router: string }) => s.router === 'rule')).toMatchObject({ note: 'canary-only: no healthy group, failover none', skipped: canary });
});
