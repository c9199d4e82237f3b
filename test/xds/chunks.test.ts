import * as grpc from '@grpc/grpc-js';
import { serializeChunks, type Chunks } from '../../src/xds/chunks';

const SIZE = 3 << 20; // far past HTTP/2's 64 KiB initial window: messages queue while others are sent
const pass = (bytes: Buffer): Buffer => bytes;

describe('serializeChunks, the xDS response serializer', () => {
  it('copies the chunks in order to where it is asked, and says how many bytes', () => {
    const chunks = [Buffer.from('ab'), new Uint8Array([99]), Buffer.alloc(0), Buffer.from('d')];
    const message = serializeChunks(chunks);
    expect(message.byteLength).toBe(4);
    const frame = Buffer.alloc(7, '-');
    expect(message.copy(frame, 2)).toBe(4);
    expect(frame.toString()).toBe('--abcd-');
  });

  // serializeChunks gives grpc-js an object that is not a Buffer: right only while grpc-js reads
  // a serialized message by its byteLength and copy() alone. Every byte that arrives is checked,
  // for messages past HTTP/2's window, queued and serialized while others are still going out.
  it('delivers large messages written at once on two streams intact', async () => {
    const server = new grpc.Server();
    const method: grpc.MethodDefinition<Buffer, Chunks> = {
      path: '/test.Chunks/Send', requestStream: false, responseStream: true,
      requestSerialize: pass, requestDeserialize: pass, responseSerialize: serializeChunks, responseDeserialize: (bytes) => [bytes],
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
