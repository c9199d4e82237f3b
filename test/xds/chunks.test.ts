import * as grpc from '@grpc/grpc-js';
import { joinChunks, type Chunks } from '../../src/xds/chunks';

const SIZE = 3 << 20; // far past HTTP/2's 64 KiB initial window: the messages queue while the first is sent
const pass = (bytes: Buffer): Buffer => bytes;

describe('joinChunks, the xDS response serializer', () => {
  it('joins the chunks in order', () => {
    const chunks = [Buffer.from('ab'), new Uint8Array([99]), Buffer.alloc(0), Buffer.from('d')];
    expect(joinChunks(chunks).toString()).toBe('abcd');
    expect(joinChunks([Buffer.from('x')]).toString()).toBe('x');
  });

  // joinChunks hands grpc-js one buffer that every response reuses: right only while grpc-js
  // copies a serialized message before it serializes the next. Were it to keep a view instead,
  // every queued message here would read as the last one written.
  it('delivers each of several large messages written at once intact', async () => {
    const server = new grpc.Server();
    const method: grpc.MethodDefinition<Buffer, Chunks> = {
      path: '/test.Chunks/Send', requestStream: false, responseStream: true,
      requestSerialize: pass, requestDeserialize: pass, responseSerialize: joinChunks, responseDeserialize: (bytes) => [bytes],
    };
    const fills = [0x61, 0x62, 0x63, 0x64];
    server.addService({ Send: method }, {
      Send: (call: grpc.ServerWritableStream<Buffer, Chunks>) => {
        fills.forEach((fill, i) => call.write([Buffer.alloc(SIZE >> i, fill), Buffer.alloc(1, fill)]));
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
    try {
      const received = await new Promise<Buffer[]>((resolve, reject) => {
        const messages: Buffer[] = [];
        const call = client.makeServerStreamRequest('/test.Chunks/Send', pass, pass, Buffer.alloc(0));
        call.on('data', (bytes: Buffer) => messages.push(bytes));
        call.on('error', reject);
        call.on('end', () => resolve(messages));
      });
      expect(received.map((m) => m.length)).toEqual(fills.map((_, i) => (SIZE >> i) + 1));
      received.forEach((message, i) => expect(message.every((byte) => byte === fills[i])).toBe(true));
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
