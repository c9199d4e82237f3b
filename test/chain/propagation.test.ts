import * as jose from 'jose';
import { DEFAULTS } from '../../src/config/config';
import { api, startApp, until } from '../support/app';
import { ExtProcClient, ProcessingRequest, type Answer, lbLabels } from '../support/extproc-client';

/**
 * Metadata along a call chain, each hop through the real ext_proc server the way two
 * sidecars call it: the caller's outbound listener, then the callee's inbound one.
 * Envoy applying an answer's header mutation is simulated by `apply`.
 */
type Headers = Record<string, string>;

function apply(headers: Headers, answer: Answer, phase: 'request_headers' | 'response_headers' = 'request_headers'): Headers {
  const mutation = answer[phase]?.response?.header_mutation ?? {};
  const out = { ...headers };
  for (const name of mutation.remove_headers ?? []) delete out[name];
  for (const option of mutation.set_headers ?? []) out[option.header.key] = Buffer.from(option.header.raw_value).toString();
  return out;
}

function responseFrame(headers: Headers): Buffer {
  return Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromObject({
    response_headers: { headers: { headers: Object.entries(headers).map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) } },
  })).finish());
}

const SECRET = 'metaroute-test-secret-0123456789abcdef';
let env: Awaited<ReturnType<typeof startApp>>;
const clients: ExtProcClient[] = [];
const side = (name: string, which: 'inbound' | 'outbound') => {
  const c = new ExtProcClient(env.extProc, { 'x-metaroute-caller-service': name, 'x-metaroute-side': which });
  clients.push(c);
  return c;
};
const edge = () => {
  const c = new ExtProcClient(env.extProc);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  process.env.METAROUTE_TEST_JWT_SECRET = SECRET;
  env = await startApp({
    extProc: {
      ...DEFAULTS.extProc,
      maxMetadataBytes: 512,
      identity: { ...DEFAULTS.extProc.identity, jwt: { header: 'authorization', issuer: 'test-issuer', audience: undefined, jwks: undefined, secretEnv: 'METAROUTE_TEST_JWT_SECRET' } },
      edge: { protectedHeaders: ['x-user-id'], protectedPrefixes: ['x-metaroute-'], clientHeaders: [], onSpoofed: 'reject' },
    },
  });
  for (const [port, tier] of [[1, 'vip'], [2, 'std']] as const) {
    await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port, metadata: { pool: tier } });
  }
  await api(env.admin, 'PUT', '/v1/rules', `rules:
  - name: vip
    service: shop
    sources: [{ arguments: [{ type: claim, key: tier, match: { type: EXACT, value: vip } }] }]
    destinations: [{ name: vip, labels: { pool: vip } }]
  - name: std-for-one-hop
    service: shop
    sources: [{ arguments: [{ type: header, key: rpc-transit-tier, match: { type: EXACT, value: std } }] }]
    destinations: [{ name: std, labels: { pool: std } }]
`);
  await until(() => env.app.engine.current.rules.inbound.get('default/shop')?.length === 2 && env.app.engine.current.registry.services.size === 1, 'setup');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await env.app.stop();
});

const request = (extra: Headers): Headers => ({ ':method': 'GET', ':path': '/', ':authority': 'svc', ...extra });

test('transit reaches the next hop only, persist reaches the end, even when every app copies all headers', async () => {
  // A's app calls B with a new transient and a persistent value.
  let headers = request({ 'rpc-transit-k': 'v1', 'rpc-persist-p': 'x' });
  headers = apply(headers, await side('a', 'outbound').request(headers));
  headers = apply(headers, await side('b', 'inbound').request(headers));
  expect(headers['rpc-transit-k']).toBe('v1'); // B's app sees it
  expect(headers['rpc-persist-p']).toBe('x');
  // B's app copies every header it received into its call to C.
  headers = apply(headers, await side('b', 'outbound').request(headers));
  expect(headers['rpc-transit-k']).toBeUndefined();
  expect(headers['rpc-persist-metaroute-transit-seen']).toBeUndefined();
  headers = apply(headers, await side('c', 'inbound').request(headers));
  expect(headers['rpc-persist-p']).toBe('x');
  // C's app copies again, and D still has the persistent value.
  headers = apply(headers, await side('c', 'outbound').request(headers));
  headers = apply(headers, await side('d', 'inbound').request(headers));
  expect(headers['rpc-persist-p']).toBe('x');
  expect(Object.keys(headers).filter((k) => k.startsWith('rpc-transit-'))).toEqual([]);
});

test('a transient value the app changes (rather than copies) is forwarded', async () => {
  let headers = request({ 'rpc-transit-k': 'v1' });
  headers = apply(headers, await side('b', 'inbound').request(headers));
  headers = apply({ ...headers, 'rpc-transit-k': 'v2' }, await side('b', 'outbound').request({ ...headers, 'rpc-transit-k': 'v2' }));
  expect(headers['rpc-transit-k']).toBe('v2');
});

test('a rule on an rpc-transit-* header matches the hop the value is set for, not a copy on the next one', async () => {
  let headers = request({ ':authority': 'shop', 'rpc-transit-tier': 'std' });
  expect(lbLabels(await side('a', 'outbound').request(headers))).toEqual({ pool: 'std' });
  headers = apply(headers, await side('b', 'inbound').request(headers));
  // B's app copies every header into its own call to shop: the copy is dropped, and routes nothing.
  const copy = await side('b', 'outbound').request(headers);
  expect(copy.request_headers.response.header_mutation.remove_headers).toContain('rpc-transit-tier');
  expect(lbLabels(copy)).toBeUndefined();
});

test('backward metadata travels one hop back', async () => {
  // D's app answers C with a backward value; D's inbound listener lets it through.
  let response: Headers = { ':status': '200', 'rpc-backward-b': '1' };
  const answer = async (c: ExtProcClient, h: Headers) => (await c.exchange([responseFrame(h)]))[0]!;
  response = apply(response, await answer(side('d', 'inbound'), response), 'response_headers');
  // C's outbound listener receives it: C's app sees it.
  response = apply(response, await answer(side('c', 'outbound'), response), 'response_headers');
  expect(response['rpc-backward-b']).toBe('1');
  // C's app copies it into its own answer to B; C's inbound listener drops the copy.
  response = apply(response, await answer(side('c', 'inbound'), response), 'response_headers');
  expect(response['rpc-backward-b']).toBeUndefined();
  expect(response['rpc-backward-metaroute-backward-seen']).toBeUndefined();
});

test('backward values from several calls, their markers joined into one line, still travel one hop back', async () => {
  const answer = async (c: ExtProcClient, h: Headers) => (await c.exchange([responseFrame(h)]))[0]!;
  // C calls D and then E; C's outbound listener marks each answer's backward value.
  const fromD = apply({ ':status': '200', 'rpc-backward-d': '1' }, await answer(side('c', 'outbound'), { ':status': '200', 'rpc-backward-d': '1' }), 'response_headers');
  const fromE = apply({ ':status': '200', 'rpc-backward-e': '2' }, await answer(side('c', 'outbound'), { ':status': '200', 'rpc-backward-e': '2' }), 'response_headers');
  // C's app copies both answers' rpc-backward-* headers into its own, joining the two markers with ", ".
  const marker = 'rpc-backward-metaroute-backward-seen';
  let response: Headers = { ':status': '200', 'rpc-backward-d': '1', 'rpc-backward-e': '2', 'rpc-backward-own': '3', [marker]: `${fromD[marker]}, ${fromE[marker]}` };
  response = apply(response, await answer(side('c', 'inbound'), response), 'response_headers');
  expect(response).toEqual({ ':status': '200', 'rpc-backward-own': '3' });
});

test('metadata over the size limit is refused with a 400', async () => {
  const answer = await side('a', 'outbound').request(request({ 'rpc-persist-big': 'x'.repeat(600) }));
  expect(answer.immediate_response.status.code).toBe(400);
  expect(answer.immediate_response.body.toString()).toMatch(/exceeds 512 bytes/);
});

test('a whole-chain value metaroute writes in every spelling counts once at the next hop', async () => {
  // A third of the 512-byte limit: its four spellings on the next hop would be over it.
  let headers = request({ 'rpc-persist-lane': 'x'.repeat(170) });
  headers = apply(headers, await side('a', 'outbound').request(headers));
  expect(headers['x-sct-metadata-transitive-lane']).toBe('x'.repeat(170));
  headers = apply(headers, await side('b', 'inbound').request(headers));
  const next = await side('b', 'outbound').request(headers); // B's app copied every header
  expect(next.immediate_response).toBeFalsy();
  expect(next.request_headers).toBeTruthy();
});

const plain = (size: number): string => 'x'.repeat(size);
const sctJson = (size: number): string => encodeURIComponent(JSON.stringify({ big: 'x'.repeat(size) }));
test.each([
  ['x-sct-metadata-transitive-big', plain],
  ['x-polaris-metadata-transitive-big', plain],
  ['sct-custom-metadata', sctJson],
  ['sct-custom-disposable-metadata', sctJson],
])('metadata spelt %s counts toward the size limit too', async (name, value) => {
  const answer = await side('a', 'outbound').request(request({ [name]: value(600) }));
  expect(answer.immediate_response?.status.code).toBe(400);
  // Under the limit the same spelling is carried, not refused.
  const small = await side('a', 'outbound').request(request({ [name]: value(20) }));
  expect(small.request_headers).toBeTruthy();
});

test('at the edge a forged identity header is refused with 403, while a verified JWT routes by its claims', async () => {
  const forged = await edge().request(request({ ':authority': 'shop', 'x-user-id': 'alice' }));
  expect(forged.immediate_response.status.code).toBe(403);
  const internal = await edge().request(request({ ':authority': 'shop', 'x-metaroute-service': 'shop' }));
  expect(internal.immediate_response.status.code).toBe(403);

  const sign = (secret: string) => new jose.SignJWT({ tier: 'vip' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('test-issuer').setExpirationTime('5m').sign(new TextEncoder().encode(secret));
  const verified = await edge().request(request({ ':authority': 'shop', authorization: `Bearer ${await sign(SECRET)}` }));
  expect(lbLabels(verified)).toEqual({ pool: 'vip' });
  const badSignature = await edge().request(request({ ':authority': 'shop', authorization: `Bearer ${await sign('another-secret-0123456789abcdef0000')}` }));
  expect(badSignature.immediate_response.status.code).toBe(401);
  // Inside the mesh (a sidecar's outbound call) the header is the application's own and passes.
  expect(lbLabels(await side('a', 'outbound').request(request({ ':authority': 'shop', 'x-user-id': 'alice' })))).toBeUndefined();
});

test('strip mode removes spoofed headers and routes as if they were absent', async () => {
  const stripEnv = await startApp({ extProc: { ...DEFAULTS.extProc, edge: { protectedHeaders: ['x-user-tier'], protectedPrefixes: [], clientHeaders: [], onSpoofed: 'strip' } } });
  const client = new ExtProcClient(stripEnv.extProc);
  try {
    await api(stripEnv.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { pool: 'vip' } });
    await api(stripEnv.admin, 'PUT', '/v1/rules', `rules:
  - name: tier-header
    service: shop
    sources: [{ arguments: [{ type: header, key: x-user-tier, match: { type: EXACT, value: vip } }] }]
    destinations: [{ name: vip, labels: { pool: vip } }]
`);
    await until(() => stripEnv.app.engine.current.rules.inbound.size === 1 && stripEnv.app.engine.current.registry.services.size === 1, 'setup');
    const answer = await client.request(request({ ':authority': 'shop', 'x-user-tier': 'vip' }));
    expect(answer.request_headers.response.header_mutation.remove_headers).toEqual(['x-user-tier']);
    expect(lbLabels(answer)).toBeUndefined();
  } finally {
    client.close();
    await stripEnv.app.stop();
  }
});

test('a malformed metadata_context, decoded only because a claim rule asks, fails that stream and nothing else', async () => {
  const grpc = await import('@grpc/grpc-js');
  const { encodeHeadersRequest } = await import('../support/extproc-client');
  const client = side('a', 'outbound');
  // metadata_context (field 8) holding a filter_metadata entry cut off inside a varint.
  const frame = Buffer.concat([encodeHeadersRequest(request({ ':authority': 'shop' })), Buffer.from([0x42, 0x03, 0x0a, 0x01, 0x80])]);
  const error = await client.exchange([frame]).then(() => undefined, (e: { code: number }) => e);
  expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
  const sign = new jose.SignJWT({ tier: 'vip' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('test-issuer').setExpirationTime('5m');
  const token = await sign.sign(new TextEncoder().encode(SECRET));
  expect(lbLabels(await edge().request(request({ ':authority': 'shop', authorization: `Bearer ${token}` })))).toEqual({ pool: 'vip' });
});
