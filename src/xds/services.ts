import { rawMethod } from '../protos/raw-method';
import type * as grpc from '@grpc/grpc-js';
import { serviceMethods } from './codec';

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const CDS_SERVICE = 'envoy.service.cluster.v3.ClusterDiscoveryService';
export const EDS_SERVICE = 'envoy.service.endpoint.v3.EndpointDiscoveryService';
/** The gRPC services the xDS server registers (health checks may name any of them). */
export const XDS_SERVICE_NAMES = [ADS_SERVICE, CDS_SERVICE, EDS_SERVICE];

/**
 * A gRPC service definition, method paths taken from the Envoy protos, with pass-through
 * (de)serializers: requests are decoded inside the stream (so a malformed one ends that stream
 * with a clear status) and responses are bytes assembled from cached, pre-encoded resources.
 */
export function serviceDefinition(serviceName: string): grpc.ServiceDefinition {
  const methods: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  for (const method of serviceMethods(serviceName)) {
    methods[method.name] = rawMethod(`/${serviceName}/${method.name}`, method.requestStream, method.responseStream);
  }
  return methods;
}
