import * as grpc from '@grpc/grpc-js';
import { MAX_STRUCT_DEPTH } from '../../src/extproc/decode';
import { ExtProcClient, encodeHeadersRequest, lbLabels } from '../support/extproc-client';
import { api, startApp, until } from '../support/app';

/**
 * A Struct nested `levels` deep ({"a": {"a": ...}}), hand-encoded: protobufjs itself recurses,
 * so it cannot build the 10,000 levels an attacker can. Lengths are computed inside out.
 */
function nestedStruct(levels: number): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  const heads: number[][] = [];
  let inner = 0; // the innermost Struct is empty
  for (let i = 1; i < levels; i++) {
    const value = 1 + varint(inner).length + inner; // Value { struct_value = 5 }
    const entry = 3 + 1 + varint(value).length + value; // { key = 1 "a"; value = 2 }
    heads.push([0x0a, ...varint(entry), 0x0a, 0x01, 0x61, 0x12, ...varint(value), 0x2a, ...varint(inner)]);
    inner = 1 + varint(entry).length + entry;
  }
  return Buffer.from(heads.reverse().flat());
}

/** map<string, Struct> entry { key = 1; value = 2 } as field `field` of ProcessingRequest (8: in Metadata, 9: attributes). */
function withStructEntry(frame: Buffer, field: 8 | 9, namespace: string, struct: Buffer): Buffer {
  const len = (n: number) => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return Buffer.from(out);
  };
  const key = Buffer.concat([Buffer.from([0x0a]), len(namespace.length), Buffer.from(namespace)]);
  const entry = Buffer.concat([key, Buffer.from([0x12]), len(struct.length), struct]);
  const mapField = Buffer.concat([Buffer.from([0x0a]), len(entry.length), entry]);
  const payload = field === 8 ? mapField : entry; // metadata_context is Metadata { filter_metadata = 1 }
  return Buffer.concat([frame, Buffer.from([field << 3 | 2]), len(payload.length), payload]);
}

let env: Awaited<ReturnType<typeof startApp>>;
let client: ExtProcClient;
const request = { ':method': 'GET', ':path': '/', ':authority': 'shop' };

beforeAll(async () => {
  env = await startApp();
  client = new ExtProcClient(env.extProc);
  await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { tier: 'vip' } });
  await api(env.admin, 'PUT', '/v1/rules', [
    'rules:',
    '  - { name: vip, service: shop, sources: [{ arguments: [{ type: claim, key: tier, match: { type: EXACT, value: vip } }] }], destinations: [{ name: v, labels: { tier: vip } }] }',
    '  - { name: local, service: shop, sources: [{ arguments: [{ type: caller_ip, match: { type: EXACT, value: 10.9.9.9 } }] }], destinations: [{ name: v, labels: { tier: vip } }] }',
    '',
  ].join('\n'));
  await until(() => env.app.engine.current.rules.inbound.size === 1 && env.app.engine.current.registry.services.size === 1, 'setup');
});

afterAll(async () => {
  client.close();
  await env.app.stop();
});

const failure = (frame: Buffer) => client.exchange([frame]).then(() => undefined, (e: grpc.ServiceError) => e);

test.each([
  ['metadata_context', 8, 'envoy.filters.http.jwt_authn'],
  ['attributes', 9, 'envoy.filters.http.ext_proc'],
] as const)('%s nested 10,000 deep fails its stream with INVALID_ARGUMENT at the documented depth', async (_what, field, namespace) => {
  const error = await failure(withStructEntry(encodeHeadersRequest(request), field, namespace, nestedStruct(10_000)));
  expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(error?.details).toBe(`malformed ProcessingRequest: Struct nested deeper than ${MAX_STRUCT_DEPTH} levels`);
  expect(await failure(withStructEntry(encodeHeadersRequest(request), field, namespace, nestedStruct(MAX_STRUCT_DEPTH + 1)))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
});

test(`${MAX_STRUCT_DEPTH} levels are decoded and routed`, async () => {
  const answers = await client.exchange([withStructEntry(encodeHeadersRequest(request, { metadataContext: { 'envoy.filters.http.jwt_authn': { jwt_payload: { tier: 'vip' } } } }), 9, 'deep', nestedStruct(MAX_STRUCT_DEPTH))]);
  expect(lbLabels(answers[0]!)).toEqual({ tier: 'vip' });
});

test("on a sidecar's outbound call too, a malformed lazily decoded part fails the stream (it is not a router failure answered unrouted)", async () => {
  const sidecar = new ExtProcClient(env.extProc, { 'x-metaroute-side': 'outbound', 'x-metaroute-caller-service': 'web' });
  try {
    const error = await sidecar.exchange([withStructEntry(encodeHeadersRequest(request), 8, 'envoy.filters.http.jwt_authn', nestedStruct(10_000))]).then(() => undefined, (e: grpc.ServiceError) => e);
    expect(error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: `malformed ProcessingRequest: Struct nested deeper than ${MAX_STRUCT_DEPTH} levels` });
  } finally {
    sidecar.close();
  }
});
