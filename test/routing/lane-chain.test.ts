import { api, startApp, until } from '../support/app';
import { ExtProcClient, lbLabels, type Answer } from '../support/extproc-client';

/**
 * Feature environment dev1 deployed only for A and D, end to end through the real
 * ext_proc server over gRPC, with the lane router switched on by a config push. Each hop
 * is two ext_proc calls: the caller's outbound sidecar (which routes; the caller names
 * itself in gRPC metadata) and the callee's inbound sidecar (which must leave the lane
 * header for the callee's app). dev1 requests carry `rpc-persist-env: dev1` as the apps
 * forward it. C also runs an unrelated lane (dev2), so it has a baseline
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
  expect((await api(env.admin, 'PUT', '/v1/routers/lane/config', { enabled: true })).status).toBe(200);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await env.app.stop();
});

/** The sidecar of `service` (with its registration labels) calling `callee`. */
async function hop(service: string, labels: string, callee: string, dev1: boolean): Promise<Answer> {
  const caller: Record<string, string> = { 'x-metaroute-caller-service': service, 'x-metaroute-caller-namespace': 'default' };
  if (labels) caller['x-metaroute-caller-labels'] = labels;
  if (service !== 'gateway') caller['x-metaroute-side'] = 'outbound'; // the gateway is an edge: no side
  const outbound = new ExtProcClient(env.extProc, caller);
  const inbound = new ExtProcClient(env.extProc, { 'x-metaroute-caller-service': service, 'x-metaroute-side': 'inbound' });
  clients.push(outbound, inbound);
  // A sidecar's outbound route takes the cluster by name (`b.default`); a bare `b` would be a cluster switch.
  const headers: Record<string, string> = { ':method': 'GET', ':path': '/', ':authority': `${callee}.default`, ':scheme': 'http' };
  if (dev1) headers['rpc-persist-env'] = 'dev1';
  const decision = await outbound.request(headers);
  const arriving = await inbound.request(headers);
  expect(arriving.immediate_response).toBeUndefined();
  expect(arriving.request_headers?.response?.header_mutation?.remove_headers ?? []).not.toContain('rpc-persist-env');
  return decision;
}

/** A pass answer: no envoy.lb, so Envoy uses the whole cluster (persistent metadata may still be mirrored in SCT's spelling). */
const PASS = { request_headers: {} };
const isPass = (answer: Answer) => lbLabels(answer) === undefined && answer.immediate_response === undefined;

test('dev1 traffic: gateway → A-dev1 → baseline B → baseline C → D-dev1', async () => {
  expect(lbLabels(await hop('gateway', '', 'a', true))).toEqual({ env: 'dev1' });
  // B has no lane at all: no opinion, and all of B is baseline.
  expect(isPass(await hop('a', 'env=dev1', 'b', true))).toBe(true);
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
  expect(isPass(await hop('c', '', 'd', true))).toBe(true);
});

test("an empty lane header is no lane: a lane instance's transitive label fills it for the next hops", async () => {
  // An app that copies headers blindly can send `rpc-persist-env;` (empty).
  const outbound = new ExtProcClient(env.extProc, {
    'x-metaroute-caller-service': 'a', 'x-metaroute-caller-namespace': 'default', 'x-metaroute-side': 'outbound',
    'x-metaroute-caller-labels': 'env=dev1', 'x-metaroute-caller-transitive': 'env',
  });
  clients.push(outbound);
  const answer = await outbound.request({ ':method': 'GET', ':path': '/', ':authority': 'b.default', ':scheme': 'http', 'rpc-persist-env': '' });
  const written = new Map((answer.request_headers?.response?.header_mutation?.set_headers ?? []).map((o: { header: { key: string; raw_value: Uint8Array } }) => [o.header.key, Buffer.from(o.header.raw_value).toString()]));
  expect(written.get('rpc-persist-env')).toBe('dev1');
  expect(written.get('x-sct-metadata-transitive-env')).toBe('dev1');
});
