import * as grpc from '@grpc/grpc-js';
import { joinChunks, type Chunks } from '../../src/xds/chunks';

const SIZE = 3 << 20; // far past HTTP/2's 64 KiB initial window: messages queue while others are sent
const pass = (bytes: Buffer): Buffer => bytes;

describe('joinChunks, the xDS response serializer', () => {
  it('joins the chunks in order', () => {
    const chunks = [Buffer.from('ab'), new Uint8Array([99]), Buffer.alloc(0), Buffer.from('d')];
    expect(joinChunks(chunks).toString()).toBe('abcd');
    expect(joinChunks([Buffer.from('x')]).toString()).toBe('x');
  });

  it('keeps its buffer for the next large response, and gives it back once none has needed a quarter of it for 30 s', () => {
    const large = [Buffer.alloc(1 << 20, 1)];
    const small = [Buffer.alloc(10_000, 2)];
    const backing = (view: Buffer): number => view.buffer.byteLength;
    const t0 = 1e9; // later than any use by the other tests
    expect(backing(joinChunks(large, t0))).toBeGreaterThanOrEqual(1 << 20);
    expect(backing(joinChunks(small, t0 + 29_000))).toBeGreaterThanOrEqual(1 << 20); // kept: the large one may come again
    expect(backing(joinChunks(large, t0 + 50_000))).toBeGreaterThanOrEqual(1 << 20); // needed again: the clock starts over
    expect(backing(joinChunks(small, t0 + 70_000))).toBeGreaterThanOrEqual(1 << 20);
    const released = joinChunks(small, t0 + 81_000);
    expect(backing(released)).toBeLessThan(1 << 20);
    expect(released.equals(Buffer.alloc(10_000, 2))).toBe(true);
  });

  // joinChunks hands grpc-js one buffer that every response reuses: right only while grpc-js
  // copies a serialized message before it serializes another. One stream would not show it (its
  // next message is serialized only once the last one is out); two streams at once do: were
  // grpc-js to keep a view, one stream's queued message would read as the other's.
  it('delivers large messages written at once on two streams intact', async () => {
    const server = new grpc.Server();
    const method: grpc.MethodDefinition<Buffer, Chunks> = {
      path: '/test.Chunks/Send', requestStream: false, responseStream: true,
      requestSerialize: pass, requestDeserialize: pass, responseSerialize: joinChunks, responseDeserialize: (bytes) => [bytes],
    };
    const fills = (stream: number): number[] => [0, 1, 2].map((i) => 0x61 + 4 * stream + i);
    server.addService({ Send: method }, {
      Send: (call: grpc.ServerWritableStream<Buffer, Chunks>) => {
        const stream = call.request[0]!;
        fills(stream).forEach((fill, i) => call.write([Buffer.alloc(SIZE >> i, fill), Buffer.alloc(1, fill)]));
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
    const receive = (stream: number): Promise<Buffer[]> => new Promise((resolve, reject) => {
      const messages: Buffer[] = [];
      const call = client.makeServerStreamRequest('/test.Chunks/Send', pass, pass, Buffer.from([stream]));
      call.on('data', (bytes: Buffer) => messages.push(bytes));
      call.on('error', reject);
      call.on('end', () => resolve(messages));
    });
    try {
      const received = await Promise.all([receive(0), receive(1)]);
      received.forEach((messages, stream) => {
        expect(messages.map((m) => m.length)).toEqual(fills(stream).map((_, i) => (SIZE >> i) + 1));
        messages.forEach((message, i) => expect(message.every((byte) => byte === fills(stream)[i])).toBe(true));
      });
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
