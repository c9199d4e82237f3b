import * as grpc from '@grpc/grpc-js';
import { rawMethod } from '../protos/raw-method';
import { Reader, Writer, WIRE_LEN } from './wire';

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
const SERVING = 1;
const NOT_SERVING = 2;
const SERVICE_UNKNOWN = 3;

const HEALTH_SERVICE: grpc.ServiceDefinition = {
  Check: rawMethod('/grpc.health.v1.Health/Check', false, false),
};

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

/**
 * grpc.health.v1.Health/Check for Envoy's and Kubernetes' gRPC health checks. '' and the
 * ext_proc service name report the server; anything else is SERVICE_UNKNOWN.
 */
export function registerHealth(server: grpc.Server, isServing: () => boolean): void {
  server.addService(HEALTH_SERVICE, {
    Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      let service: string;
      try {
        service = requestedService(call.request);
      } catch {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: 'malformed HealthCheckRequest' });
        return;
      }
      const known = service === '' || service === 'envoy.service.ext_proc.v3.ExternalProcessor';
      const status = !known ? SERVICE_UNKNOWN : isServing() ? SERVING : NOT_SERVING;
      callback(null, new Writer().varintField(1, status).finish());
    },
  });
}
