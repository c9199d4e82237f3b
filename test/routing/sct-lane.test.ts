import { api, startApp, until } from '../support/app';
import { ExtProcClient, lbLabels, setHeaders } from '../support/extproc-client';

/**
 * Spring Cloud Tencent's feature-environment scenario: SvcA and SvcD are deployed in dev1
 * (SCT_METADATA_CONTENT_ENV=dev1, SCT_METADATA_CONTENT_TRANSITIVE=ENV), B and C only in the
 * baseline. No client sends any header: the lane starts as A's instance label, and A's
 * sidecar turns it into persistent metadata on A's outbound call, so it survives B and C.
 * Each hop: the caller's outbound ext_proc call; its header mutations are applied as Envoy
 * would, and the next app copies the persistent headers it received (metainfo and SCT do).
 */
let env: Awaited<ReturnType<typeof startApp>>;
const clients: ExtProcClient[] = [];

beforeAll(async () => {
  env = await startApp();
  const instances = [['a', 1, {}], ['a', 2, { env: 'dev1' }], ['b', 3, {}], ['c', 4, {}], ['c', 5, { env: 'dev2' }], ['d', 6, {}], ['d', 7, { env: 'dev1' }]] as const;
  for (const [service, port, metadata] of instances) {
    expect((await api(env.admin, 'POST', '/v1/instances', { service, host: '10.0.0.1', port, metadata })).status).toBe(200);
  }
  await until(() => env.app.engine.current.registry.services.size === 4, 'services');
  expect((await api(env.admin, 'PUT', '/v1/routers/lane/config', { enabled: true })).status).toBe(200);
});

afterAll(async () => {
  clients.forEach((c) => c.close());
  await env.app.stop();
});

/** `service`'s sidecar (registered labels and transitive keys as the agent publishes them) calls `callee` with `headers`. */
async function hop(service: string, labels: string, transitive: string, callee: string, headers: Record<string, string>) {
  const metadata: Record<string, string> = { 'x-metaroute-caller-service': service, 'x-metaroute-side': 'outbound' };
  if (labels) metadata['x-metaroute-caller-labels'] = labels;
  if (transitive) metadata['x-metaroute-caller-transitive'] = transitive;
  const client = new ExtProcClient(env.extProc, metadata);
  clients.push(client);
  const answer = await client.request({ ':method': 'GET', ':path': '/', ':authority': callee, ...headers });
  const forwarded = { ...headers, ...setHeaders(answer) };
  // What the callee's application copies into its own calls: the whole-chain metadata.
  const copied = Object.fromEntries(Object.entries(forwarded).filter(([k]) => k.startsWith('rpc-persist-') || k.startsWith('x-sct-metadata-transitive-')));
  return { lb: lbLabels(answer), copied };
}

test('a lane set only as the caller instance\'s transitive label reaches D through baseline B and C, in both spellings', async () => {
  const ab = await hop('a', 'env=dev1', 'env', 'b', {});
  expect(ab.lb).toBeUndefined(); // B has no lane: the whole of B
  expect(ab.copied).toEqual({ 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1' });
  const bc = await hop('b', '', '', 'c', ab.copied);
  expect(bc.lb).toEqual({ env: '' }); // C's baseline, never its dev2 lane
  const cd = await hop('c', '', '', 'd', bc.copied);
  expect(cd.lb).toEqual({ env: 'dev1' });
});

test('the one-hop marker (rpc-persist-metaroute-transit-seen) is not mirrored as SCT metadata', async () => {
  const copied = (await hop('b', '', '', 'd', { 'rpc-persist-env': 'dev1', 'rpc-transit-x': '1', 'rpc-persist-metaroute-transit-seen': 'x=abc' })).copied;
  expect(copied).toEqual({ 'rpc-persist-env': 'dev1', 'rpc-persist-metaroute-transit-seen': 'x=abc', 'x-sct-metadata-transitive-env': 'dev1' });
});

test('a value already on the request wins over the caller\'s label, and a non-transitive label is not turned into metadata', async () => {
  expect((await hop('a', 'env=dev1', 'env', 'b', { 'rpc-persist-env': 'dev9' })).copied).toEqual({ 'rpc-persist-env': 'dev9', 'x-sct-metadata-transitive-env': 'dev9' });
  expect((await hop('a', 'env=dev1', '', 'b', {})).copied).toEqual({});
});

test('SCT applications\' spellings are read and mirrored: X-SCT-Metadata-Transitive-<k> and SCT-CUSTOM-METADATA', async () => {
  const sct = await hop('b', '', '', 'd', { 'x-sct-metadata-transitive-env': 'dev1' });
  expect(sct.lb).toEqual({ env: 'dev1' });
  expect(sct.copied).toEqual({ 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1' });
  const custom = await hop('b', '', '', 'd', { 'sct-custom-metadata': encodeURIComponent(JSON.stringify({ env: 'dev1' })) });
  expect(custom.lb).toEqual({ env: 'dev1' });
  expect(custom.copied).toEqual({ 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1' });
  expect((await hop('b', '', '', 'd', { 'sct-custom-metadata': '%7Bbroken' })).lb).toEqual({ env: '' });
});
