import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import type { App } from '../../src/app/app';
import { api, startApp } from '../support/app';
import { ExtProcClient } from '../support/extproc-client';

// grpc.health.v1 messages, declared here so the test encodes independently of metaroute's hand-written codec.
const health = protobuf.parse(`
  syntax = "proto3";
  package grpc.health.v1;
  message HealthCheckRequest { string service = 1; }
  message HealthCheckResponse {
    enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
    ServingStatus status = 1;
  }
`).root;
const Request = health.lookupType('grpc.health.v1.HealthCheckRequest');
const Response = health.lookupType('grpc.health.v1.HealthCheckResponse');
const raw = (b: Buffer) => b;
const HealthClient = grpc.makeGenericClientConstructor(
  {
    Check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
    Watch: { path: '/grpc.health.v1.Health/Watch', requestStream: false, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  },
  'Health',
);

const encode = (service: string) => Buffer.from(Request.encode({ service }).finish());
const statusOf = (frame: Buffer) => Response.toObject(Response.decode(frame), { enums: String, defaults: true }).status as string;

function check(client: grpc.Client, request: Buffer): Promise<string> {
  return new Promise((resolve, reject) =>
    (client as any).Check(request, (error: grpc.ServiceError | null, answer: Buffer) => (error ? reject(error) : resolve(statusOf(answer)))),
  );
}

/** Opens a Watch; `statuses` fills as updates arrive, `ended` resolves with the final gRPC status code. */
function watch(client: grpc.Client, service: string) {
  const statuses: string[] = [];
  const call: grpc.ClientReadableStream<Buffer> = (client as any).Watch(encode(service));
  call.on('data', (frame: Buffer) => statuses.push(statusOf(frame)));
  const ended = new Promise<number>((resolve) => {
    call.on('status', (s: grpc.StatusObject) => resolve(s.code));
    call.on('error', () => undefined); // the status event carries the outcome
  });
  return { statuses, ended };
}

async function firstUpdate(statuses: string[]): Promise<void> {
  for (let i = 0; i < 200 && statuses.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
}

describe('grpc.health.v1.Health on the ext_proc and xDS ports', () => {
  let app: App;
  let extProc: grpc.Client;
  let xds: grpc.Client;

  beforeEach(async () => {
    const started = await startApp();
    app = started.app;
    extProc = new HealthClient(started.extProc, grpc.credentials.createInsecure());
    xds = new HealthClient(`127.0.0.1:${app.ports.xds}`, grpc.credentials.createInsecure());
  });

  afterEach(async () => {
    await app.stop();
    extProc.close();
    xds.close();
  });

  it('Check reports the server and the services each port serves; another service fails with NOT_FOUND', async () => {
    expect(await check(extProc, encode(''))).toBe('SERVING');
    expect(await check(extProc, encode('envoy.service.ext_proc.v3.ExternalProcessor'))).toBe('SERVING');
    await expect(check(extProc, encode('envoy.service.discovery.v3.AggregatedDiscoveryService'))).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect(await check(xds, encode('envoy.service.discovery.v3.AggregatedDiscoveryService'))).toBe('SERVING');
    expect(await check(xds, encode('envoy.service.endpoint.v3.EndpointDiscoveryService'))).toBe('SERVING');
    await expect(check(xds, encode('envoy.service.ext_proc.v3.ExternalProcessor'))).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: 'unknown service "envoy.service.ext_proc.v3.ExternalProcessor"' });
  });

  it('a malformed request is INVALID_ARGUMENT for Check and Watch, and the server keeps serving', async () => {
    const truncated = Buffer.from([0x0a, 0x05, 0x61]);
    await expect(check(extProc, truncated)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const call: grpc.ClientReadableStream<Buffer> = (extProc as any).Watch(truncated);
    const code = await new Promise<number>((resolve) => {
      call.on('status', (s: grpc.StatusObject) => resolve(s.code));
      call.on('error', () => undefined);
    });
    expect(code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await check(extProc, encode(''))).toBe('SERVING');
  });

  it('Watch sends the status at once, NOT_SERVING when metaroute stops, then ends the stream cleanly', async () => {
    const server = watch(extProc, '');
    const unknown = watch(xds, 'no.such.Service');
    await firstUpdate(server.statuses);
    await firstUpdate(unknown.statuses);
    expect(server.statuses).toEqual(['SERVING']);
    expect(unknown.statuses).toEqual(['SERVICE_UNKNOWN']);

    await app.stop();
    // OK, not CANCELLED/UNAVAILABLE: the server ended the watches itself instead of being forced down around them.
    expect(await server.ended).toBe(grpc.status.OK);
    expect(await unknown.ended).toBe(grpc.status.OK);
    expect(server.statuses).toEqual(['SERVING', 'NOT_SERVING']);
    expect(unknown.statuses).toEqual(['SERVICE_UNKNOWN']);
  });
});

describe('the drain window on stop', () => {
  it('reports NOT_SERVING while still answering ext_proc, then closes; a second stop ends the window at once', async () => {
    const { app, admin, extProc: extProcAddress } = await startApp({ drainSeconds: 60 });
    const health = new HealthClient(extProcAddress, grpc.credentials.createInsecure());
    const envoy = new ExtProcClient(extProcAddress);
    try {
      expect(await check(health, encode(''))).toBe('SERVING');
      const watcher = watch(health, '');
      await firstUpdate(watcher.statuses);
      let watchEnded = false;
      void watcher.ended.then(() => (watchEnded = true));
      let closed = false;
      const stopped = app.stop().then(() => (closed = true));

      expect(await check(health, encode(''))).toBe('NOT_SERVING');
      expect((await api(admin, 'GET', '/readyz')).status).toBe(503);
      const answer = await envoy.request({ ':method': 'GET', ':path': '/', ':authority': 'unknown.default' });
      expect(answer).toHaveProperty('request_headers'); // still routing
      expect(watcher.statuses).toEqual(['SERVING', 'NOT_SERVING']);
      expect(watchEnded).toBe(false); // a watch stays open while the server still answers
      expect(closed).toBe(false);

      // The 60 s window would outlast this test's timeout: only the second stop can end it.
      await app.stop();
      await stopped;
      expect(await watcher.ended).toBe(grpc.status.OK);
      await expect(check(health, encode(''))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    } finally {
      health.close();
      envoy.close();
      void app.stop(); // starts the drain if a failed expectation came first; the next call ends it
      await app.stop();
    }
  });
});
