import * as grpc from '@grpc/grpc-js';
import { bindGrpc, shutdownGrpc } from '../../src/app/grpc-server';
import { callLayerInterceptor } from '../../src/extproc/call-layer';
import { rawMethod } from '../../src/protos/raw-method';

/** callLayerInterceptor over real gRPC on loopback, with an echo method whose handler throws on `boom`. */
const ECHO: grpc.ServiceDefinition = { Echo: rawMethod('/test.Echo/Echo', true, true) };
const Client = grpc.makeGenericClientConstructor(ECHO, 'Echo');

let server: grpc.Server;
let client: grpc.Client;

beforeAll(async () => {
  const interceptor = callLayerInterceptor('/test.Echo/Echo', (call) => ({
    message: (bytes) => {
      if (bytes.toString() === 'boom') throw new Error('boom');
      call.send(bytes);
    },
    halfClose: () => call.end(grpc.status.OK, 'OK'),
  }));
  server = new grpc.Server({ interceptors: [interceptor] });
  server.addService(ECHO, {});
  client = new Client(`127.0.0.1:${await bindGrpc(server, '127.0.0.1', 0, grpc.ServerCredentials.createInsecure())}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client.close();
  await shutdownGrpc(server);
});

function exchange(messages: string[]): Promise<{ received: string[]; code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    const received: string[] = [];
    const call: grpc.ClientDuplexStream<Buffer, Buffer> = (client as any).Echo();
    call.on('data', (b: Buffer) => received.push(b.toString()));
    call.on('error', () => undefined); // the status event carries the outcome
    call.on('status', (s: grpc.StatusObject) => resolve({ received, code: s.code, details: s.details }));
    for (const m of messages) call.write(Buffer.from(m));
    call.end();
  });
}

test('messages are handed over in order and the handler ends the call', async () => {
  expect(await exchange(['a', 'b', 'c'])).toEqual({ received: ['a', 'b', 'c'], code: grpc.status.OK, details: 'OK' });
});

test('a handler that throws fails its own call with INTERNAL; the server keeps serving', async () => {
  const failed = await exchange(['a', 'boom', 'c']);
  expect(failed.code).toBe(grpc.status.INTERNAL);
  expect(failed.details).toBe('handler failed: boom');
  expect(failed.received).toEqual(['a']);
  expect((await exchange(['d'])).received).toEqual(['d']);
});
