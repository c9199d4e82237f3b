// The baseline: a bare node:http2 gRPC handler that answers every ext_proc stream with
// the same pre-encoded ProcessingResponse metaroute sends, and no logic at all.
'use strict';
const http2 = require('node:http2');

const answer = Buffer.from(process.argv[3], 'base64');
const frame = Buffer.alloc(5 + answer.length);
frame.writeUInt32BE(answer.length, 1);
answer.copy(frame, 5);

const server = http2.createServer({ settings: { maxConcurrentStreams: 4096 } });
server.on('stream', (stream) => {
  stream.on('data', () => {});
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame);
  });
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'));
// A clean exit on SIGTERM flushes what V8 printed (--trace-gc-nvp for bench/extproc/gc.js).
process.on('SIGTERM', () => process.exit(0));
