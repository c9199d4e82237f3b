/** Instance labels: the metadata an instance registers with, and what Envoy's subset LB matches. */
export type Labels = Readonly<Record<string, string>>;

export interface Locality {
  readonly region?: string;
  readonly zone?: string;
  readonly campus?: string;
}

export interface Instance {
  readonly id: string;
  readonly service: string;
  readonly namespace: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly metadata: Labels;
  readonly locality: Locality;
  readonly healthy: boolean;
  /** Ephemeral instances expire after `ttlSeconds` without a heartbeat; persistent ones never do. */
  readonly ephemeral: boolean;
  readonly ttlSeconds: number;
}

export const DEFAULT_NAMESPACE = 'default';

/** Internal key of a service: unique across namespaces. */
export function serviceKey(namespace: string, service: string): string {
  return `${namespace}/${service}`;
}

/**
 * The Envoy cluster (and xDS resource) name of a service: `<service>.<namespace>`, the
 * same shape as a Kubernetes service host, so `http://shop.default/` names cluster `shop.default`.
 */
export function clusterName(namespace: string, service: string): string {
  return `${service}.${namespace}`;
}

export function endpointAddress(instance: Instance): string {
  return `${instance.host}:${instance.port}`;
}
