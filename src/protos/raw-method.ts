import type * as grpc from '@grpc/grpc-js';

const raw = (b: Buffer): Buffer => b;

/**
 * A gRPC method whose messages pass through grpc-js as bytes: metaroute decodes and
 * encodes them itself (lean hot-path codec for ext_proc, cached encodings for xDS).
 */
export function rawMethod(path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream, responseStream, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw };
}
