import { CanaryRouter } from '../../src/routing/canary-router';
import { LaneRouter } from '../../src/routing/lane-router';
import { MetadataRouter } from '../../src/routing/metadata-router';
import { NearbyRouter } from '../../src/routing/nearby-router';
import { RecoverRouter } from '../../src/routing/recover-router';
import { RuleRouter } from '../../src/routing/rule-router';
import { api, startApp, until } from '../support/app';
import { ExtProcClient, lbLabels, type Answer } from '../support/extproc-client';

/**
 * Feature environment dev1 deployed only for A and D, end to end through the real
 * ext_proc server over gRPC. Each hop is the ext_proc call of the caller's sidecar: the
 * caller names itself in gRPC metadata, and dev1 requests carry `rpc-persist-env: dev1`
 * as the app forwards it. C also runs an unrelated lane (dev2), so it has a baseline
 * distinct from "all of C"; B runs no lane at all.
 */
let env: Awaited<ReturnType<typeof startApp>>;
const clients: ExtProcClient[] = [];

const INSTANCES = [
  { service: 'a', port: 8101, metadata: {} },
  { service: 'a', port: 8102, metadata: { env: 'dev1' } },
  { service: 'b', port: 8201, metadata: {} },
  { service: 'c', port: 8301, metadata: {} },
  { service: 'c', port: 8302, metadata: { env: 'dev2' } },
  { service: 'd', port: 8401, metadata: {} },
  { service: 'd', port: 8402, metadata: { env: 'dev1' } },
];

beforeAll(async () => {
  env = await startApp();
  for (const i of INSTANCES) {
    const r = await api(env.admin, 'POST', '/v1/instances', { service: i.service, host: '10.0.0.1', port: i.port, metadata: i.metadata, ephemeral: false });
    expect(r.status).toBe(200);
  }
  await until(() => env.app.engine.current.registry.services.size === 4, 'the four services to be live');
  // The lead wires these in src/app/app.ts; until then the test installs the chain itself.
  const lane = new LaneRouter();
  lane.configure({ enabled: true });
  const rest = [new NearbyRouter(), new CanaryRouter(), new RecoverRouter()];
  for (const r of rest) r.configure({});
  env.app.engine.setRouters([lane, new RuleRouter(), new MetadataRouter(), ...rest]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await env.app.stop();
});

/** The sidecar of `service` (with its registration labels) calling `callee`. */
function hop(service: string, labels: string, callee: string, dev1: boolean): Promise<Answer> {
  const caller: Record<string, string> = { 'x-metaroute-caller-service': service, 'x-metaroute-caller-namespace': 'default' };
  if (labels) caller['x-metaroute-caller-labels'] = labels;
  const client = new ExtProcClient(env.extProc, caller);
  clients.push(client);
  const headers: Record<string, string> = { ':method': 'GET', ':path': '/', ':authority': callee, ':scheme': 'http' };
  if (dev1) headers['rpc-persist-env'] = 'dev1';
  return client.request(headers);
}

/** A pass answer: no envoy.lb, so Envoy uses the whole cluster. */
const PASS = { request_headers: {} };

test('dev1 traffic: gateway → A-dev1 → baseline B → baseline C → D-dev1', async () => {
  expect(lbLabels(await hop('gateway', '', 'a', true))).toEqual({ env: 'dev1' });
  // B has no lane at all: no opinion, and all of B is baseline.
  expect(await hop('a', 'env=dev1', 'b', true)).toEqual(PASS);
  // C has no dev1 instance: its baseline, never its dev2 lane.
  expect(lbLabels(await hop('b', '', 'c', true))).toEqual({ env: '' });
  // The baseline C forwards the header, and dev1 traffic comes back to D's dev1 instance.
  expect(lbLabels(await hop('c', '', 'd', true))).toEqual({ env: 'dev1' });
});

test('baseline traffic never reaches a lane instance at any hop', async () => {
  expect(lbLabels(await hop('gateway', '', 'a', false))).toEqual({ env: '' });
  expect(await hop('a', '', 'b', false)).toEqual(PASS);
  expect(lbLabels(await hop('b', '', 'c', false))).toEqual({ env: '' });
  expect(lbLabels(await hop('c', '', 'd', false))).toEqual({ env: '' });
});

test("a lane instance's own label keeps its calls in the lane when the header is missing", async () => {
  expect(lbLabels(await hop('a', 'env=dev1', 'd', false))).toEqual({ env: 'dev1' });
});

test('when D-dev1 turns unhealthy, dev1 traffic falls back to the baseline D; when it is gone, D has no lane', async () => {
  const dDev1 = { service: 'd', host: '10.0.0.1', port: 8402, metadata: { env: 'dev1' }, ephemeral: false };
  expect((await api(env.admin, 'POST', '/v1/instances', { ...dDev1, healthy: false })).status).toBe(200);
  await until(() => env.app.engine.current.registry.services.get('default/d')!.healthy === 1, 'D-dev1 to be unhealthy');
  expect(lbLabels(await hop('c', '', 'd', true))).toEqual({ env: '' });

  expect((await api(env.admin, 'DELETE', '/v1/instances/default/d/10.0.0.1:8402')).status).toBe(200);
  await until(() => env.app.engine.current.registry.services.get('default/d')!.instances.length === 1, 'D-dev1 to be gone');
  expect(await hop('c', '', 'd', true)).toEqual(PASS);
});
