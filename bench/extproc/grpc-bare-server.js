// The grpc-js ceiling: metaroute's own gRPC path (grpc-js serving ext_proc at its call
// layer, src/extproc/call-layer.ts) answering every stream with the same pre-encoded
// ProcessingResponse, and no routing logic. It separates the library's per-stream cost
// from metaroute's.
'use strict';
const grpc = require('@grpc/grpc-js');
const { callLayerInterceptor } = require('../../dist/extproc/call-layer');
const { EXT_PROC_SERVICE } = require('../../dist/extproc/service');

const answer = Buffer.from(process.argv[3], 'base64');
const path = EXT_PROC_SERVICE.Process.path;
const interceptor = callLayerInterceptor(path, (call) => ({
  message: () => call.send(answer),
  halfClose: () => call.end(grpc.status.OK, 'OK'),
}));
const server = new grpc.Server({ 'grpc.max_concurrent_streams': 4096, 'grpc.enable_channelz': 0, interceptors: [interceptor] });
server.addService(EXT_PROC_SERVICE, {});
server.bindAsync(`127.0.0.1:${process.argv[2]}`, grpc.ServerCredentials.createInsecure(), (error) => {
  if (error) throw error;
  process.send?.('ready');
});
// A clean exit on SIGTERM flushes what V8 printed (--trace-gc-nvp for bench/extproc/gc.js).
process.on('SIGTERM', () => process.exit(0));
