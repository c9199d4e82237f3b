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
const SCT = 'sct-custom-metadata';
const POLARIS = 'x-polaris-metadata-transitive-';
/** SCT-CUSTOM-METADATA as SCT writes it: URLEncoder.encode of the JSON map. */
const sct = (map: Record<string, unknown>): string => encodeURIComponent(JSON.stringify(map));
/** SCT-CUSTOM-METADATA as SCT reads it: URLDecoder.decode, then the JSON map. */
const sctMap = (value: string | undefined): unknown => (value === undefined ? undefined : JSON.parse(decodeURIComponent(value.replace(/\+/g, ' '))));

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
  const copied = Object.fromEntries(Object.entries(forwarded).filter(([k]) => k.startsWith('rpc-persist-') || k.startsWith('x-sct-metadata-transitive-') || k.startsWith(POLARIS) || k === SCT));
  return { lb: lbLabels(answer), copied };
}

test('a lane set only as the caller instance\'s transitive label reaches D through baseline B and C, in every spelling', async () => {
  const ab = await hop('a', 'env=dev1', 'env', 'b', {});
  expect(ab.lb).toBeUndefined(); // B has no lane: the whole of B
  expect(ab.copied).toEqual({ 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1', [`${POLARIS}env`]: 'dev1', [SCT]: sct({ env: 'dev1' }) });
  const bc = await hop('b', '', '', 'c', ab.copied);
  expect(bc.lb).toEqual({ env: '' }); // C's baseline, never its dev2 lane
  const cd = await hop('c', '', '', 'd', bc.copied);
  expect(cd.lb).toEqual({ env: 'dev1' });
});

test('the one-hop marker (rpc-persist-metaroute-transit-seen) is not mirrored as SCT metadata', async () => {
  const copied = (await hop('b', '', '', 'd', { 'rpc-persist-env': 'dev1', 'rpc-transit-x': '1', 'rpc-persist-metaroute-transit-seen': 'x=abc' })).copied;
  expect(copied).toEqual({ 'rpc-persist-env': 'dev1', 'rpc-persist-metaroute-transit-seen': 'x=abc', 'x-sct-metadata-transitive-env': 'dev1', [`${POLARIS}env`]: 'dev1', [SCT]: sct({ env: 'dev1' }) });
});

test('a value already on the request wins over the caller\'s label, and a non-transitive label is not turned into metadata', async () => {
  expect((await hop('a', 'env=dev1', 'env', 'b', { 'rpc-persist-env': 'dev9' })).copied).toEqual({ 'rpc-persist-env': 'dev9', 'x-sct-metadata-transitive-env': 'dev9', [`${POLARIS}env`]: 'dev9', [SCT]: sct({ env: 'dev9' }) });
  expect((await hop('a', 'env=dev1', '', 'b', {})).copied).toEqual({});
});

test('SCT applications\' spellings are read and written: X-SCT-Metadata-Transitive-<k> and SCT-CUSTOM-METADATA', async () => {
  const header = await hop('b', '', '', 'd', { 'x-sct-metadata-transitive-env': 'dev1' });
  expect(header.lb).toEqual({ env: 'dev1' });
  expect(header.copied).toEqual({ 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1', [`${POLARIS}env`]: 'dev1', [SCT]: sct({ env: 'dev1' }) });
  // An SCT application keeps its keys as written (SCT_METADATA_CONTENT_ENV is "ENV"); they name the same lane.
  const custom = await hop('b', '', '', 'd', { [SCT]: sct({ ENV: 'dev1' }) });
  expect(custom.lb).toEqual({ env: 'dev1' });
  expect(custom.copied).toEqual({ 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1', [`${POLARIS}env`]: 'dev1', [SCT]: sct({ ENV: 'dev1' }) });
  expect((await hop('b', '', '', 'd', { [SCT]: '%7Bbroken' })).lb).toEqual({ env: '' });
});

test('Polaris\'s spelling X-Polaris-Metadata-Transitive-<k> is read like SCT\'s, and written for polaris-java applications downstream', async () => {
  const polaris = await hop('b', '', '', 'd', { [`${POLARIS}env`]: 'dev1' });
  expect(polaris.lb).toEqual({ env: 'dev1' });
  expect(polaris.copied).toEqual({ 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1', [`${POLARIS}env`]: 'dev1', [SCT]: sct({ env: 'dev1' }) });
  // Both per-key headers win over the map, as in SCT's metadata-transfer; metainfo's and SCT's over Polaris's.
  expect((await hop('b', '', '', 'd', { [`${POLARIS}env`]: 'dev1', [SCT]: sct({ env: 'dev2' }) })).lb).toEqual({ env: 'dev1' });
  const conflict = await hop('b', '', '', 'd', { 'x-sct-metadata-transitive-env': 'dev1', [`${POLARIS}env`]: 'dev2' });
  expect(conflict.lb).toEqual({ env: 'dev1' });
  // A spelling already on the request is never rewritten.
  expect(conflict.copied).toEqual({ 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1', [`${POLARIS}env`]: 'dev2', [SCT]: sct({ env: 'dev1' }) });
});

test('SCT-CUSTOM-METADATA is merged, never clobbered: other entries, their spelling and non-string values stay', async () => {
  const existing = { biz: 'x y', n: 3, nested: { a: 1 } };
  // Java's URLEncoder writes a space as '+'.
  const merged = await hop('a', 'env=dev1', 'env', 'b', { [SCT]: sct(existing).replace(/%20/g, '+') });
  expect(sctMap(merged.copied[SCT])).toEqual({ ...existing, env: 'dev1' });
  // metainfo's spelling reaches an SCT application downstream in SCT's.
  const fromMetainfo = await hop('b', '', '', 'd', { 'rpc-persist-env': 'dev1', 'rpc-persist-user-id': 'u7', [SCT]: sct({ biz: 'x' }) });
  expect(sctMap(fromMetainfo.copied[SCT])).toEqual({ biz: 'x', env: 'dev1', 'user-id': 'u7' });
  // The value routed by wins in every spelling: rpc-persist-env over an SCT entry for the same key.
  const conflict = await hop('b', '', '', 'd', { 'rpc-persist-env': 'dev1', [SCT]: sct({ ENV: 'dev2', biz: 'x' }) });
  expect(conflict.lb).toEqual({ env: 'dev1' });
  expect(sctMap(conflict.copied[SCT])).toEqual({ ENV: 'dev1', biz: 'x' });
  // Already complete: not rewritten; unreadable: left as it is.
  const complete = sct({ env: 'dev1' });
  expect((await hop('b', '', '', 'd', { 'rpc-persist-env': 'dev1', [SCT]: complete })).copied[SCT]).toBe(complete);
  expect((await hop('b', '', '', 'd', { 'rpc-persist-env': 'dev1', [SCT]: '%7Bbroken' })).copied[SCT]).toBe('%7Bbroken');
});
