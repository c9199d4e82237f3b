import * as grpc from '@grpc/grpc-js';
import { rawMethod } from '../protos/raw-method';
import { Reader, Writer, WIRE_LEN } from './wire';

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
const SERVING = 1;
const NOT_SERVING = 2;
const SERVICE_UNKNOWN = 3;

const HEALTH_SERVICE: grpc.ServiceDefinition = {
  Check: rawMethod('/grpc.health.v1.Health/Check', false, false),
  Watch: rawMethod('/grpc.health.v1.Health/Watch', false, true),
};

/** `draining`: still answering, but telling health checkers to send nothing new; `stopping`: closing. */
export type LifecyclePhase = 'starting' | 'serving' | 'draining' | 'stopping';

/** metaroute's lifecycle as health checks see it: serving only once every listener is bound. */
export class Readiness {
  private current: LifecyclePhase = 'starting';
  private readonly listeners = new Set<(phase: LifecyclePhase) => void>();

  get phase(): LifecyclePhase {
    return this.current;
  }

  set(phase: LifecyclePhase): void {
    if (phase === this.current) return;
    this.current = phase;
    for (const listener of [...this.listeners]) listener(phase);
  }

  onChange(listener: (phase: LifecyclePhase) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** HealthCheckRequest { string service = 1; } */
function requestedService(frame: Buffer): string {
  const r = new Reader(frame);
  let service = '';
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LEN) service = r.string();
    else r.skip(wire);
  }
  return service;
}

/** HealthCheckResponse { ServingStatus status = 1; } */
function statusResponse(status: number): Buffer {
  return new Writer().varintField(1, status).finish();
}

const MALFORMED = { code: grpc.status.INVALID_ARGUMENT, details: 'malformed HealthCheckRequest' };

/**
 * grpc.health.v1.Health for Envoy's, Kubernetes' and gRPC clients' health checks. '' and
 * the gRPC services of this server report metaroute's readiness. Any other name fails Check
 * with NOT_FOUND and is SERVICE_UNKNOWN to Watch, as the protocol asks. Watch sends the
 * status at once and again on every change: NOT_SERVING when the drain window opens, and the
 * stream ends when the listeners close, so a graceful shutdown does not wait on watchers.
 */
export function registerHealth(server: grpc.Server, readiness: Readiness, services: readonly string[]): void {
  const known = new Set(['', ...services]);
  const status = (service: string) => (!known.has(service) ? SERVICE_UNKNOWN : readiness.phase === 'serving' ? SERVING : NOT_SERVING);
  server.addService(HEALTH_SERVICE, {
    Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      let service: string;
      try {
        service = requestedService(call.request);
      } catch {
        callback(MALFORMED);
        return;
      }
      if (!known.has(service)) callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(service.slice(0, 100))}` });
      else callback(null, statusResponse(status(service)));
    },
    Watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      let service: string;
      try {
        service = requestedService(call.request);
      } catch {
        call.emit('error', MALFORMED);
        return;
      }
      let sent = status(service);
      call.write(statusResponse(sent));
      if (readiness.phase === 'stopping') {
        call.end();
        return;
      }
      // An unknown service stays unknown (this server's set is fixed), but the stream stays open, as the protocol asks.
      const off = readiness.onChange((phase) => {
        const now = status(service);
        if (now !== sent) call.write(statusResponse((sent = now)));
        if (phase === 'stopping') call.end();
      });
      call.on('close', off);
      call.on('cancelled', off);
    },
  });
}
