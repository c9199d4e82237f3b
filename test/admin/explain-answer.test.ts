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

test('a caller whose transitive keys are not a list of strings is refused, naming the field', async () => {
  const answer = await api(env.admin, 'POST', '/explain', { service: 'shop', caller: { service: 'web', transitive: 'env' } });
  expect({ status: answer.status, details: answer.json.details }).toEqual({ status: 400, details: ['caller.transitive: must be a list of strings'] });
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
