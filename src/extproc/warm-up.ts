import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { MetricsRegistry } from '../metrics/metrics';
import type { RoutingEngine } from '../routing/engine';
import type { DecideOptions } from './decide';
import { ExtProcService } from './service';
import { Writer } from './wire';

/** Streams in flight at once, as on one of Envoy's connections under load. */
const CONCURRENCY = 64;
/** A warm-up still running after this long stops: a starved machine must not hold the start. */
export const WARM_UP_LIMIT_MS = 10_000;
/** A host no service or cluster can have (a service name starts with a letter or digit; a cluster name has a dot), so no router runs. */
const AUTHORITY = '-metaroute-warm-up';

/**
 * Runs `streams` ext_proc streams over loopback through a throwaway server built like the real
 * one, before the real listener binds. Until V8 has optimized grpc-js's and Node's HTTP/2
 * code (most of a stream's cost) and the decoding, a freshly started process driven at 4,000
 * streams/s answered its first second's streams with a p99 of 69–158 ms and a max up to 443 ms,
 * past Envoy's default 200 ms `message_timeout`; warmed, 16–48 ms (docs/PERFORMANCE.md, "The
 * first load after a start"). The streams pass (unknown service); their metrics go to a
 * registry of their own and metaroute's JWT check is left out, so none is counted or verified.
 */
export async function warmUpExtProc(engine: RoutingEngine, options: DecideOptions, grpcOptions: grpc.ServerOptions, streams: number): Promise<{ streams: number; ms: number }> {
  const started = performance.now();
  const server = new ExtProcService(engine, new MetricsRegistry(), { ...options, jwt: undefined }).createServer(grpcOptions);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  // A listener of this process's own (`exclusive`): node:cluster would share a port-0 listener
  // among the ext_proc workers and hand one worker's warm-up connection to another's server.
  const listener = net.createServer((socket) => injector.injectConnection(socket));
  try {
    await new Promise<void>((resolve, reject) => listener.once('error', reject).listen({ host: '127.0.0.1', port: 0, exclusive: true }, resolve));
    listener.on('error', () => undefined); // a failed accept leaves its streams to the deadline below
    const session = http2.connect(`http://127.0.0.1:${(listener.address() as net.AddressInfo).port}`);
    session.on('error', () => undefined); // its streams fail with it, and reject
    // The bound holds for a stream that never ends too: closing the session fails what is open.
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      session.destroy();
    }, WARM_UP_LIMIT_MS - (performance.now() - started));
    try {
      let done = 0;
      while (done < streams && !timedOut) {
        const batch = Math.min(CONCURRENCY, streams - done);
        try {
          await Promise.all(Array.from({ length: batch }, () => oneStream(session)));
        } catch (error) {
          if (timedOut) break; // the deadline closed the session mid-batch
          throw error;
        }
        done += batch;
      }
      return { streams: done, ms: performance.now() - started };
    } finally {
      clearTimeout(deadline);
      session.destroy();
    }
  } finally {
    listener.close();
    injector.destroy();
    server.forceShutdown();
  }
}

const FRAME = requestFrame();

/** One stream, as Envoy opens it for a request's headers; rejects unless it ends with gRPC status OK. */
function oneStream(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/envoy.service.ext_proc.v3.ExternalProcessor/Process', 'content-type': 'application/grpc', te: 'trailers' });
    let status: string | undefined;
    const readStatus = (headers: http2.IncomingHttpHeaders) => (status = headers['grpc-status'] === undefined ? status : String(headers['grpc-status']));
    stream.on('response', readStatus); // a trailers-only answer (an error) carries it here
    stream.on('trailers', readStatus);
    stream.on('data', () => undefined);
    stream.on('error', reject);
    stream.on('close', () => (status === '0' ? resolve() : reject(new Error(`ext_proc warm-up stream ended with grpc-status ${status ?? 'none'}`))));
    stream.end(FRAME);
  });
}

/** A gRPC-framed ProcessingRequest { request_headers: HttpHeaders { headers, end_of_stream } } for a request Envoy might send. */
function requestFrame(): Buffer {
  const headers = new Writer();
  for (const [key, value] of [[':method', 'GET'], [':scheme', 'http'], [':authority', AUTHORITY], [':path', '/?uid=1'], ['user-agent', 'metaroute-warm-up'], ['x-request-id', 'warm-up']]) {
    headers.messageField(1, new Writer().stringField(1, key).bytesField(3, Buffer.from(value))); // HeaderValue { key, raw_value }
  }
  const message = new Writer().messageField(2, new Writer().messageField(1, headers).varintField(3, 1)).finish();
  const frame = Buffer.alloc(5 + message.length); // uncompressed, then the length
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}
