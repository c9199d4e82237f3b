import { api, startApp, until } from '../support/app';
import { ExtProcClient, lbLabels, type Answer } from '../support/extproc-client';

/**
 * A sidecar's outbound route takes the cluster from :authority (envoy/sidecar.yaml). A callee
 * called by its bare or Kubernetes name is answered as a switch to its cluster; one called by its
 * cluster name, named by a header an app may have copied, or any other dotted host is not.
 */
let env: Awaited<ReturnType<typeof startApp>>;
const clients: ExtProcClient[] = [];

beforeAll(async () => {
  env = await startApp();
  expect((await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'gray' } })).status).toBe(200);
  expect((await api(env.admin, 'POST', '/v1/instances', { service: 'other', host: '10.0.0.2', port: 1 })).status).toBe(200);
  expect((await api(env.admin, 'PUT', '/v1/rules', 'rules:\n  - name: gray\n    service: shop\n    destinations: [{ name: gray, labels: { version: gray } }]\n')).status).toBe(200);
  await until(() => env.app.engine.current.registry.services.size === 2 && env.app.engine.current.rules.inbound.size === 1, 'setup');
});

afterAll(async () => {
  clients.forEach((c) => c.close());
  await env.app.stop();
});

async function call(side: 'outbound' | undefined, headers: Record<string, string>): Promise<{ cluster: string | undefined; cleared: boolean; labels: unknown }> {
  const client = new ExtProcClient(env.extProc, side ? { 'x-metaroute-caller-service': 'web', 'x-metaroute-side': side } : {});
  clients.push(client);
  const answer: Answer = await client.request({ ':method': 'GET', ':path': '/', ...headers });
  const set = (answer.request_headers?.response?.header_mutation?.set_headers ?? []) as Array<{ header: { key: string; raw_value: Uint8Array } }>;
  const cluster = set.find((o) => o.header.key === 'x-metaroute-cluster');
  return { cluster: cluster && Buffer.from(cluster.header.raw_value).toString(), cleared: answer.request_headers?.response?.clear_route_cache === true, labels: lbLabels(answer) };
}

test.each(['shop', 'shop.default.svc', 'shop.default.svc.cluster.local', 'shop:8080'])('outbound to %s: switched to shop.default with the rule\'s labels', async (authority) => {
  expect(await call('outbound', { ':authority': authority })).toEqual({ cluster: 'shop.default', cleared: true, labels: { version: 'gray' } });
});

test.each([
  ['its cluster name', 'outbound' as const, { ':authority': 'shop.default' }],
  ['a copied x-metaroute-service header', 'outbound' as const, { ':authority': 'other.default', 'x-metaroute-service': 'shop' }],
  ['another dotted host', 'outbound' as const, { ':authority': 'shop.default.example.com' }],
  ['a gateway (its route table chose)', undefined, { ':authority': 'shop' }],
])('not switched for %s', async (_what, side, headers) => {
  expect((await call(side, headers)).cluster).toBeUndefined();
});

test("explain on a sidecar's outbound side shows the switch a call by that name gets, and refuses a cluster beside an authority", async () => {
  const explained = async (body: object) => api(env.admin, 'POST', '/explain', { side: 'outbound', caller: { service: 'web' }, ...body });
  for (const service of ['shop', 'shop.default.svc.cluster.local']) {
    const { status, json } = await explained({ service });
    expect({ service, status, decision: json.decision }).toEqual({ service, status: 200, decision: { kind: 'cluster', cluster: 'shop.default', labels: { version: 'gray' } } });
  }
  expect((await explained({ cluster: 'shop.default' })).json.decision).toEqual({ kind: 'subset', labels: { version: 'gray' } });
  const both = await explained({ service: 'shop', authority: 'shop' });
  expect([both.status, both.json.details]).toEqual([400, ["service: a sidecar's route takes its cluster from authority (side outbound): give one of them"]]);
});
