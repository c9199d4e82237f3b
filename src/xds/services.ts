import { rawMethod } from '../protos/raw-method';
import type * as grpc from '@grpc/grpc-js';
import { serializeChunks, type Chunks } from './chunks';
import { serviceMethods } from './codec';

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const CDS_SERVICE = 'envoy.service.cluster.v3.ClusterDiscoveryService';
export const EDS_SERVICE = 'envoy.service.endpoint.v3.EndpointDiscoveryService';
/** The gRPC services the xDS server registers (health checks may name any of them). */
export const XDS_SERVICE_NAMES = [ADS_SERVICE, CDS_SERVICE, EDS_SERVICE];

/**
 * A gRPC service definition, method paths taken from the Envoy protos: requests pass through
 * as bytes and are decoded inside the stream (so a malformed one ends that stream with a clear
 * status); responses are chunks of cached, pre-encoded resources, copied once as grpc-js frames them.
 */
export function serviceDefinition(serviceName: string): grpc.ServiceDefinition {
  const methods: Record<string, grpc.MethodDefinition<Buffer, Chunks>> = {};
  for (const method of serviceMethods(serviceName)) {
    const raw = rawMethod(`/${serviceName}/${method.name}`, method.requestStream, method.responseStream);
    methods[method.name] = { ...raw, responseSerialize: serializeChunks, responseDeserialize: (bytes) => [bytes] };
  }
  return methods;
}
