import * as grpc from '@grpc/grpc-js';
import { MetricsRegistry } from '../../src/metrics/metrics';
import { bindGrpc, shutdownGrpc } from '../../src/app/grpc-server';
import { DEFAULTS } from '../../src/config/config';
import type { JwtVerifier } from '../../src/context/identity';
import { ExtProcService } from '../../src/extproc/service';
import { engineWith } from '../routing/helpers';
import { ExtProcClient, ProcessingRequest, encodeHeadersRequest } from '../support/extproc-client';

/**
 * Answer order on one ext_proc stream, through the real server on loopback. The one
 * stand-in: a JWT verifier that answers after 50 ms. The real one (jose, HS256 or a local
 * JWKS) settles within microtasks, too fast to make later messages queue behind it.
 */
const slowVerifier = { verify: () => new Promise((resolve) => setTimeout(() => resolve({ ok: true, claims: {} }), 50)) } as unknown as JwtVerifier;

let server: grpc.Server;
let client: ExtProcClient;

beforeAll(async () => {
  const service = new ExtProcService(engineWith([], []), new MetricsRegistry(), { ...DEFAULTS.extProc, jwt: slowVerifier });
  server = service.createServer({});
  const port = await bindGrpc(server, '127.0.0.1', 0, grpc.ServerCredentials.createInsecure());
  client = new ExtProcClient(`127.0.0.1:${port}`);
});

afterAll(async () => {
  client.close();
  await shutdownGrpc(server);
});

const frame = (message: Record<string, unknown>) => Buffer.from(ProcessingRequest.encode(ProcessingRequest.fromObject(message)).finish());

test('later messages are answered after a pending one, in order, and the stream ends after the last answer', async () => {
  const answers = await client.exchange([
    encodeHeadersRequest({ ':method': 'GET', ':path': '/', ':authority': 'shop' }),
    frame({ request_body: { body: Buffer.from('x'), end_of_stream: true } }),
    frame({ response_headers: { headers: { headers: [{ key: ':status', raw_value: Buffer.from('200') }] } } }),
  ]);
  expect(answers.map((a) => Object.keys(a)[0])).toEqual(['request_headers', 'request_body', 'response_headers']);
});

test('a malformed message queued behind a pending one fails the stream with INVALID_ARGUMENT', async () => {
  const error = await client
    .exchange([encodeHeadersRequest({ ':method': 'GET', ':path': '/', ':authority': 'shop' }), Buffer.from([0x12, 0xff])])
    .then(() => undefined, (e: grpc.ServiceError) => e);
  expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
});
