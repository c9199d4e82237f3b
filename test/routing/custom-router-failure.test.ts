import * as grpc from '@grpc/grpc-js';
import * as path from 'node:path';
import { DEFAULTS } from '../../src/config/config';
import { api, startApp, until } from '../support/app';
import { ExtProcClient, lbLabels, setHeaders, type Answer } from '../support/extproc-client';

/**
 * A custom router that throws or answers something invalid, over real gRPC ext_proc: a
 * sidecar's outbound call still gets metaroute's metadata propagation (without it the next hop
 * loses the caller's metadata), with no routing; an edge call still fails its stream (the
 * gateway's failure_mode_allow decides). Both are counted as before.
 */

const MODULE = path.join(__dirname, 'fixtures', 'slot-pick-router.js');
const SIDECAR = { 'x-metaroute-caller-service': 'web', 'x-metaroute-caller-labels': 'env=dev1', 'x-metaroute-caller-transitive': 'env', 'x-metaroute-side': 'outbound' };
const MISTAKES: Array<[string, string]> = [
  ['throw', 'router slot-pick: route() threw: no slot table'],
  ['reject-without-status', 'router slot-pick: route() returned a final result whose decision.status is not an HTTP status (200-599)'],
];

let env: Awaited<ReturnType<typeof startApp>>;

beforeAll(async () => {
  env = await startApp({ routers: [{ name: undefined, module: MODULE, config: {} }] });
  await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: {} });
  await until(() => env.app.engine.current.registry.services.size === 1, 'shop registered');
});

afterAll(async () => {
  await env.app.stop();
});

const internalStreamErrors = async (): Promise<number> => Number(/^metaroute_extproc_stream_errors_total\{reason="internal"\} (\d+)$/m.exec((await api(env.admin, 'GET', '/metrics')).text)?.[1]);
const request = (client: ExtProcClient, act: string): Promise<Answer> =>
  client.request({ ':method': 'GET', ':path': '/', ':authority': 'shop.default', 'x-act': act, 'rpc-persist-x': 'p1' });

test.each(MISTAKES)("a sidecar's outbound call whose router fails (%s) keeps its metadata propagation, without routing, counted", async (act, error) => {
  const client = new ExtProcClient(env.extProc, SIDECAR);
  try {
    const before = await internalStreamErrors();
    const answer = await request(client, act);
    // The caller's transitive label becomes persistent metadata, and rpc-persist-x is written in the other spellings.
    expect(setHeaders(answer)).toMatchObject({ 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1', 'x-sct-metadata-transitive-x': 'p1' });
    expect(lbLabels(answer)).toBeUndefined();
    expect(answer.dynamic_metadata.fields.metaroute.structValue.fields.error.stringValue).toBe(error);
    expect(await internalStreamErrors()).toBe(before + 1);
    expect(lbLabels(await request(client, 'none'))).toBeUndefined(); // the stream layer is unharmed: a good request still routes
  } finally {
    client.close();
  }
});

test('explain answers the same for a sidecar: the propagation, and a pass whose reason names the failure', async () => {
  const explained = await api(env.admin, 'POST', '/explain', { service: 'shop', side: 'outbound', caller: { service: 'web', labels: { env: 'dev1' }, transitive: ['env'] }, headers: { 'x-act': 'throw' } });
  expect(explained.status).toBe(200);
  expect(explained.json.decision).toEqual({ kind: 'pass', reason: 'router slot-pick: route() threw: no slot table; answered without routing (a sidecar fails open)' });
  expect(explained.json.headerMutation.set).toContainEqual({ key: 'rpc-persist-env', value: 'dev1' });
});

test('at the edge a failing router still fails the stream (INTERNAL): the gateway fails closed', async () => {
  const client = new ExtProcClient(env.extProc);
  try {
    const before = await internalStreamErrors();
    await expect(request(client, 'throw')).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: 'metaroute failed this request: router slot-pick: route() threw: no slot table' });
    expect(await internalStreamErrors()).toBe(before + 1);
  } finally {
    client.close();
  }
});

test("with extProc.outboundRouterFailure: fail, a sidecar's outbound call whose router fails fails its stream, for a fail-closed sidecar to decide", async () => {
  const failing = await startApp({ routers: [{ name: undefined, module: MODULE, config: {} }], extProc: { ...DEFAULTS.extProc, outboundRouterFailure: 'fail' } });
  const client = new ExtProcClient(failing.extProc, SIDECAR);
  try {
    await api(failing.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: {} });
    await until(() => failing.app.engine.current.registry.services.size === 1, 'shop registered');
    await expect(request(client, 'throw')).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: 'metaroute failed this request: router slot-pick: route() threw: no slot table' });
    const explained = await api(failing.admin, 'POST', '/explain', { service: 'shop', side: 'outbound', caller: { service: 'web' }, headers: { 'x-act': 'throw' } });
    expect(explained.status).toBe(500);
  } finally {
    client.close();
    await failing.app.stop();
  }
});
