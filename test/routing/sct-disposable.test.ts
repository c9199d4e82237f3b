import { DEFAULTS } from '../../src/config/config';
import { api, startApp, until } from '../support/app';
import { ExtProcClient, lbLabels, type Answer } from '../support/extproc-client';

/**
 * Spring Cloud Tencent's one-hop ("disposable") metadata, SCT-CUSTOM-DISPOSABLE-METADATA:
 * URL-encoded JSON like SCT-CUSTOM-METADATA, set by the caller for its direct callee only.
 * Through the real ext_proc server, each call as a sidecar makes it (the caller's outbound
 * listener, the callee's inbound one); Envoy applying a header mutation is `apply`.
 * Service d has a dev1 lane and a baseline.
 */
const DISPOSABLE = 'sct-custom-disposable-metadata';
const MARKER = 'rpc-persist-metaroute-disposable-seen';
/** As SCT writes it: URLEncoder.encode of the JSON map. */
const sct = (map: unknown): string => encodeURIComponent(JSON.stringify(map));
type Headers = Record<string, string>;

let env: Awaited<ReturnType<typeof startApp>>;
const clients: ExtProcClient[] = [];

beforeAll(async () => {
  env = await startApp({ extProc: { ...DEFAULTS.extProc, maxHeaderBytes: 4096 } });
  for (const [port, metadata] of [[1, {}], [2, { env: 'dev1' }], [3, { canary: 'v2' }]] as const) {
    const service = port === 3 ? 'e' : 'd';
    expect((await api(env.admin, 'POST', '/v1/instances', { service, host: '10.0.0.1', port, metadata })).status).toBe(200);
  }
  expect((await api(env.admin, 'POST', '/v1/instances', { service: 'e', host: '10.0.0.1', port: 4, metadata: {} })).status).toBe(200);
  await until(() => env.app.engine.current.registry.services.size === 2, 'services');
  expect((await api(env.admin, 'PUT', '/v1/routers/lane/config', { enabled: true })).status).toBe(200);
  expect((await api(env.admin, 'PUT', '/v1/routers/canary/config', { enabled: true })).status).toBe(200);
});

afterAll(async () => {
  clients.forEach((c) => c.close());
  await env.app.stop();
});

/** One ext_proc call of `service`'s sidecar on `side`; `forwarded` is the request after Envoy applied the answer. */
async function call(service: string, side: 'inbound' | 'outbound', headers: Headers): Promise<{ answer: Answer; forwarded: Headers }> {
  const client = new ExtProcClient(env.extProc, { 'x-metaroute-caller-service': service, 'x-metaroute-side': side });
  clients.push(client);
  const request = { ':method': 'GET', ':path': '/', ':authority': 'd.default', ...headers };
  const answer = await client.request(request);
  const mutation = answer.request_headers?.response?.header_mutation ?? {};
  const forwarded: Headers = { ...request };
  for (const name of mutation.remove_headers ?? []) delete forwarded[name];
  for (const option of mutation.set_headers ?? []) forwarded[option.header.key] = Buffer.from(option.header.raw_value).toString();
  return { answer, forwarded };
}

const metadataHeaders = (headers: Headers): string[] => Object.keys(headers).filter((k) => !k.startsWith(':')).sort();

test('a disposable value goes to the callee as it came, is never written as persistent metadata, and picks no lane or canary', async () => {
  // SCT's routers take labels from whole-chain metadata only: so do the lane and canary routers.
  const alone = await call('b', 'outbound', { [DISPOSABLE]: sct({ env: 'dev1' }) });
  expect(lbLabels(alone.answer)).toEqual({ env: '' });
  expect(metadataHeaders(alone.forwarded)).toEqual([DISPOSABLE]); // passed to the callee as it came, and nothing added
  // The same value as whole-chain metadata does pick the lane (the routers are on).
  expect(lbLabels((await call('b', 'outbound', { 'rpc-persist-env': 'dev1' })).answer)).toEqual({ env: 'dev1' });
  // Service e: a v2 canary and a stable instance.
  expect(lbLabels((await call('b', 'outbound', { ':authority': 'e.default', [DISPOSABLE]: sct({ canary: 'v2' }) })).answer)).toEqual({ canary: '' });
  expect(lbLabels((await call('b', 'outbound', { ':authority': 'e.default', 'rpc-persist-canary': 'v2' })).answer)).toEqual({ canary: 'v2' });
});

test('a callee that forwards the header unchanged is copying: its next call does not carry it', async () => {
  // A → B: A's SCT code set a disposable value for B.
  const ab = await call('a', 'outbound', { [DISPOSABLE]: sct({ env: 'dev1', biz: 'x' }) });
  const atB = (await call('b', 'inbound', ab.forwarded)).forwarded;
  expect(atB[DISPOSABLE]).toBe(sct({ env: 'dev1', biz: 'x' })); // B's application sees it
  expect(atB[MARKER]).toBeDefined();
  // B's application copies every header it received into its call to D.
  const bd = await call('b', 'outbound', atB);
  expect(bd.answer.request_headers.response.header_mutation.remove_headers).toEqual(expect.arrayContaining([DISPOSABLE, MARKER]));
  expect(bd.forwarded[DISPOSABLE]).toBeUndefined();
  expect(bd.forwarded[MARKER]).toBeUndefined();
});

test('a callee that sets its own disposable value (as SCT does for each call) forwards it', async () => {
  const atB = (await call('b', 'inbound', { [DISPOSABLE]: sct({ env: 'dev2' }) })).forwarded;
  // B's code replaced the value; a metainfo-style copy of rpc-* still brought the marker along.
  const own = await call('b', 'outbound', { ...atB, [DISPOSABLE]: sct({ env: 'dev1' }) });
  expect(own.forwarded[DISPOSABLE]).toBe(sct({ env: 'dev1' }));
  expect(own.forwarded[MARKER]).toBeUndefined();
  // An SCT application copies no rpc-* header: without a marker the header is the caller's own.
  const sctApp = await call('b', 'outbound', { [DISPOSABLE]: sct({ env: 'dev1' }) });
  expect(sctApp.forwarded[DISPOSABLE]).toBe(sct({ env: 'dev1' }));
});

test('a marker arriving without the header it marks is removed on the inbound call and suppresses nothing', async () => {
  const inbound = await call('b', 'inbound', { [MARKER]: 'forged' });
  expect(inbound.forwarded[MARKER]).toBeUndefined();
  const outbound = await call('b', 'outbound', { [MARKER]: 'forged', [DISPOSABLE]: sct({ env: 'dev1' }) });
  expect(outbound.forwarded[DISPOSABLE]).toBe(sct({ env: 'dev1' }));
});

test('any value, readable or not, passes untouched and is still recognised as a copy; over the header limit 431 as for SCT-CUSTOM-METADATA', async () => {
  const bad = ['%E0%A4%A', '%7Bbroken', sct([1, 2]), 'null', sct('dev1'), sct({ env: 5 }), sct({ env: { nested: 'dev1' } }), ''];
  for (const value of bad) {
    const outbound = await call('b', 'outbound', { [DISPOSABLE]: value });
    expect(lbLabels(outbound.answer)).toEqual({ env: '' });
    expect(outbound.forwarded[DISPOSABLE]).toBe(value); // not ours to destroy
    // The inbound side marks it all the same (by hash, unread), so a copy is still recognised.
    const atB = (await call('b', 'inbound', { [DISPOSABLE]: value })).forwarded;
    expect((await call('b', 'outbound', atB)).forwarded[DISPOSABLE]).toBeUndefined();
  }
  for (const name of [DISPOSABLE, 'sct-custom-metadata']) {
    const big = await call('b', 'outbound', { [name]: sct({ env: 'dev1', pad: 'x'.repeat(5000) }) });
    expect(big.answer.immediate_response.status.code).toBe(431);
  }
});
