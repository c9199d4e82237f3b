import { api, startApp, until } from '../support/app';
import { ExtProcClient, lbLabels } from '../support/extproc-client';

/**
 * Nearby routing end to end: the router is switched on by a config push, instances carry
 * localities, the caller's sidecar names its zone, and the answer is the reserved locality
 * labels in envoy.lb (which xDS also writes on every endpoint).
 */
let env: Awaited<ReturnType<typeof startApp>>;
let client: ExtProcClient;
const z1 = (port: number, healthy: boolean) => ({ service: 'shop', host: '10.0.1.1', port, healthy, ephemeral: false, locality: { region: 'r1', zone: 'z1' } });
const z2 = (port: number) => ({ service: 'shop', host: '10.0.2.1', port, ephemeral: false, locality: { region: 'r1', zone: 'z2' } });
const far = (port: number) => ({ service: 'shop', host: '10.9.9.1', port, ephemeral: false, locality: { region: 'r9', zone: 'z9' } });

beforeAll(async () => {
  env = await startApp();
  for (const i of [z1(1, true), z1(2, false), z1(3, false), z1(4, false), z2(5), z2(6), far(7)]) {
    expect((await api(env.admin, 'POST', '/v1/instances', i)).status).toBe(200);
  }
  await until(() => env.app.engine.current.registry.services.get('default/shop')?.instances.length === 7, 'instances');
  const pushed = await api(env.admin, 'PUT', '/v1/routers/nearby/config', { enabled: true, matchLevel: 'zone', maxMatchLevel: 'region', healthyRatioThreshold: 0.5 });
  expect(pushed.status).toBe(200);
  client = new ExtProcClient(env.extProc, { 'x-metaroute-caller-service': 'web', 'x-metaroute-caller-labels': 'region=r1,zone=z1', 'x-metaroute-side': 'outbound' });
});

afterAll(async () => {
  client.close();
  await env.app.stop();
});

const decide = async () => lbLabels(await client.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' }));
/** The healthy endpoints the envoy.lb labels select, as Envoy's subset LB would resolve them. */
const endpoints = async () => {
  const labels = (await decide())!;
  const view = env.app.engine.current.registry.services.get('default/shop')!;
  return view.subset(labels).instances.filter((i) => i.healthy).map((i) => `${i.host}:${i.port}`).sort();
};

test('a zone with 1 of 4 instances healthy (below 0.5) degrades to its region, never further', async () => {
  expect(await decide()).toEqual({ 'metaroute.io/region': 'r1' });
  expect(await endpoints()).toEqual(['10.0.1.1:1', '10.0.2.1:5', '10.0.2.1:6']);
});

test('when the zone recovers, traffic stays in the zone', async () => {
  for (const port of [2, 3]) expect((await api(env.admin, 'POST', '/v1/instances', z1(port, true))).status).toBe(200);
  await until(() => env.app.engine.current.registry.services.get('default/shop')!.healthy === 6, 'z1 to recover');
  expect(await decide()).toEqual({ 'metaroute.io/region': 'r1', 'metaroute.io/zone': 'z1' });
  expect(await endpoints()).toEqual(['10.0.1.1:1', '10.0.1.1:2', '10.0.1.1:3']);
});

test('an invalid config push is refused with the field named and the old config keeps serving', async () => {
  const refused = await api(env.admin, 'PUT', '/v1/routers/nearby/config', { enabled: true, matchLevel: 'galaxy' });
  expect(refused.status).toBe(400);
  expect(refused.json.details.join(' ')).toMatch(/matchLevel/);
  expect(await endpoints()).toEqual(['10.0.1.1:1', '10.0.1.1:2', '10.0.1.1:3']);
});
