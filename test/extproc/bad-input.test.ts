import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { ExtProcClient, encodeHeadersRequest, lbLabels } from '../support/extproc-client';
import { api, startApp, until } from '../support/app';
import { DEFAULTS } from '../../src/config/config';
import { sharedCli } from '../support/transpile';

let env: Awaited<ReturnType<typeof startApp>>;
let client: ExtProcClient;
const staff = { ':method': 'GET', ':path': '/', ':authority': 'shop', 'x-user-role': 'staff' };

beforeAll(async () => {
  env = await startApp({ extProc: { ...DEFAULTS.extProc, maxHeaderBytes: 4096 } });
  client = new ExtProcClient(env.extProc);
  await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'gray' } });
  await api(env.admin, 'PUT', '/v1/rules', 'rules:\n  - name: staff\n    service: shop\n    destinations: [{ name: gray, labels: { version: gray } }]\n');
  await until(() => env.app.engine.current.rules.inbound.size === 1 && env.app.engine.current.registry.services.size === 1, 'setup');
});

afterAll(async () => {
  client.close();
  await env.app.stop();
});

test.each([
  ['a truncated varint', Buffer.from([0x12, 0xff])],
  ['a length past the end', Buffer.from([0x12, 0x10, 0x0a])],
  ['no request phase at all', Buffer.from([0x50, 0x01])],
  ['a wrong wire type for request_headers', Buffer.from([0x10, 0x01])],
])('%s fails that stream with INVALID_ARGUMENT and the server keeps serving', async (_what, frame) => {
  const error = await client.exchange([frame]).then(() => undefined, (e: grpc.ServiceError) => e);
  expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(error?.details).toMatch(/malformed ProcessingRequest/);
  expect(lbLabels(await client.request(staff))).toEqual({ version: 'gray' });
});

test('a stream whose x-metaroute-side is neither inbound nor outbound (a typo in a sidecar bootstrap) fails with INVALID_ARGUMENT, not taken for an edge', async () => {
  const typo = new ExtProcClient(env.extProc, { 'x-metaroute-caller-service': 'web', 'x-metaroute-side': 'Outbound' });
  try {
    const before = Number(/metaroute_extproc_stream_errors_total\{reason="malformed"\} (\d+)/.exec((await api(env.admin, 'GET', '/metrics')).text)?.[1]);
    const error = await typo.request(staff).then(() => undefined, (e: grpc.ServiceError) => e);
    expect([error?.code, error?.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'malformed stream metadata: x-metaroute-side must be inbound or outbound (absent at a gateway), got "Outbound"']);
    expect((await api(env.admin, 'GET', '/metrics')).text).toContain(`metaroute_extproc_stream_errors_total{reason="malformed"} ${before + 1}`);
  } finally {
    typo.close();
  }
  expect(lbLabels(await client.request(staff))).toEqual({ version: 'gray' }); // a stream without the header is an edge's
  const empty = new ExtProcClient(env.extProc, { 'x-metaroute-side': '' }); // empty, as other x-metaroute-* values, is none
  try {
    expect(lbLabels(await empty.request(staff))).toEqual({ version: 'gray' });
  } finally {
    empty.close();
  }
});

test.each([
  ['a labels entry without =', { 'x-metaroute-caller-labels': 'env:dev1' }, 'x-metaroute-caller-labels must be key=value pairs separated by commas, got "env:dev1"'],
  ['a labels entry without a key', { 'x-metaroute-caller-labels': 'zone=z1,=dev1' }, 'x-metaroute-caller-labels must be key=value pairs separated by commas, got "=dev1"'],
  // Keys are trimmed as values are: `env =dev2` gives env too, and neither value may silently win.
  ['a label key given twice', { 'x-metaroute-caller-labels': 'env=dev1,zone=z1,env =dev2' }, 'x-metaroute-caller-labels gives "env" twice: one value per key'],
  ['a transitive key not among the labels', { 'x-metaroute-caller-labels': 'env=dev1', 'x-metaroute-caller-transitive': 'env,user' }, 'x-metaroute-caller-transitive names "user", not among x-metaroute-caller-labels: nothing to carry on'],
])("a sidecar's stream with %s fails with INVALID_ARGUMENT, not routed without its lane", async (_what, identity, details) => {
  const sidecar = new ExtProcClient(env.extProc, { 'x-metaroute-caller-service': 'web', 'x-metaroute-side': 'outbound', ...identity });
  try {
    const error = await sidecar.request(staff).then(() => undefined, (e: grpc.ServiceError) => e);
    expect([error?.code, error?.details]).toEqual([grpc.status.INVALID_ARGUMENT, `malformed stream metadata: ${details}`]);
  } finally {
    sidecar.close();
  }
  const fine = new ExtProcClient(env.extProc, { 'x-metaroute-caller-service': 'web', 'x-metaroute-side': 'outbound', 'x-metaroute-caller-labels': 'env=dev1,', 'x-metaroute-caller-transitive': 'env' });
  try {
    expect(lbLabels(await fine.request(staff))).toEqual({ version: 'gray' }); // a trailing comma is no entry
  } finally {
    fine.close();
  }
});

test("a sidecar whose every stream is refused for its metadata is logged once (per caller and reason), not once per request", async () => {
  const refusals = () => env.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['event'] === 'extproc.metadata.refused' && l['caller'] === 'default/flood');
  const malformed = async () => Number(/metaroute_extproc_stream_errors_total\{reason="malformed"\} (\d+)/.exec((await api(env.admin, 'GET', '/metrics')).text)?.[1]);
  const before = await malformed();
  const typo = new ExtProcClient(env.extProc, { 'x-metaroute-caller-service': 'flood', 'x-metaroute-side': 'outbound', 'x-metaroute-caller-labels': 'env:dev1' });
  try {
    for (let i = 0; i < 5; i++) expect((await typo.request(staff).then(() => undefined, (e: grpc.ServiceError) => e))?.code).toBe(grpc.status.INVALID_ARGUMENT);
  } finally {
    typo.close();
  }
  expect(await malformed()).toBe(before + 5); // every stream still counted
  expect(refusals()).toEqual([expect.objectContaining({
    level: 'warn',
    reason: 'x-metaroute-caller-labels must be key=value pairs separated by commas, got "env:dev1"',
    peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    suppressed: 0,
  })]);
  expect(refusals()[0]!['msg']).toContain('a fail-open Envoy forwards its requests without routing');
  // Another reason from the same caller is a line of its own.
  const side = new ExtProcClient(env.extProc, { 'x-metaroute-caller-service': 'flood', 'x-metaroute-side': 'sideways' });
  try {
    await side.request(staff).catch(() => undefined);
    await side.request(staff).catch(() => undefined);
  } finally {
    side.close();
  }
  expect(refusals().map((r) => r['reason'])).toEqual([
    'x-metaroute-caller-labels must be key=value pairs separated by commas, got "env:dev1"',
    'x-metaroute-side must be inbound or outbound (absent at a gateway), got "sideways"',
  ]);
});

test('headers over the limit are answered 431, not routed, and counted', async () => {
  const answer = await client.request({ ...staff, 'x-big': 'x'.repeat(5000) });
  expect(answer.immediate_response.status.code).toBe(431);
  expect((await api(env.admin, 'GET', '/metrics')).text).toMatch(/metaroute_rejected_requests_total{reason="oversized_headers"} 1/);
});

test('an unknown service passes through unchanged and is counted', async () => {
  const answer = await client.request({ ...staff, ':authority': 'nosuch.default:8080' });
  expect(answer).toEqual({ request_headers: {} });
  expect((await api(env.admin, 'GET', '/metrics')).text).toMatch(/metaroute_unknown_service_total 1/);
});

test('body, trailer and response-header messages are answered CONTINUE; observability mode gets no answer', async () => {
  const root = (await import('../support/extproc-client')).ProcessingRequest;
  const body = Buffer.from(root.encode(root.fromObject({ request_body: { body: Buffer.from('x'), end_of_stream: true } })).finish());
  const trailers = Buffer.from(root.encode(root.fromObject({ request_trailers: {} })).finish());
  const responseHeaders = Buffer.from(root.encode(root.fromObject({ response_headers: { headers: { headers: [] } } })).finish());
  const answers = await client.exchange([encodeHeadersRequest(staff), body, trailers, responseHeaders]);
  expect(answers.map((a) => Object.keys(a).filter((k) => k !== 'dynamic_metadata'))).toEqual([['request_headers'], ['request_body'], ['request_trailers'], ['response_headers']]);
  expect(await client.exchange([encodeHeadersRequest(staff, { observabilityMode: true })])).toEqual([]);
});

test('an invalid rules update is refused with path and line, and the old rules keep serving', async () => {
  const bad = 'rules:\n  - name: staff\n    service: shop\n    destinations: [{ name: gray, labels: { version: gray }, weight: -1 }]\n';
  const response = await api(env.admin, 'PUT', '/v1/rules', bad);
  expect(response.status).toBe(400);
  expect(response.json.details.join('\n')).toMatch(/^api:4:\d+: rules\[0\]\.destinations\[0\]\.weight: /m);
  expect(lbLabels(await client.request(staff))).toEqual({ version: 'gray' });
});

test('`metaroute validate` exits 1 with file:line errors for an invalid rules file', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rules-')), 'rules.yaml');
  fs.writeFileSync(file, 'rules:\n  - name: r\n    service: shop\n    destnations: []\n');
  let status = 0;
  let stderr = '';
  try {
    execFileSync(process.execPath, [sharedCli(), 'validate', file], { stdio: 'pipe' });
  } catch (error) {
    status = (error as { status: number }).status;
    stderr = String((error as { stderr: Buffer }).stderr);
  }
  expect(status).toBe(1);
  expect(stderr).toContain(`${file}:4:5: rules[0].destnations: unknown field`);
});
