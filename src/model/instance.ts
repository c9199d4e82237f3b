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

/** Names one instance (a heartbeat's, a removal's). */
export interface InstanceRef {
  readonly namespace: string;
  readonly service: string;
  readonly id: string;
}

/** Labels that select nothing narrower than the whole service: one shared object. */
export const NO_LABELS: Labels = Object.freeze({});

export const DEFAULT_NAMESPACE = 'default';
/** A service name registration takes. */
export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
/** A namespace registration takes: no '.', since the cluster `<service>.<namespace>` must name one service (`a.b` + `c` against `a` + `b.c`). */
export const NAMESPACE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,252}$/;

/**
 * An instance's locality as reserved labels, so locality-aware routers narrow with labels
 * like every other router and Envoy's subset LB can follow (xDS writes them into envoy.lb).
 */
export const LOCALITY_LABELS = {
  region: 'metaroute.io/region',
  zone: 'metaroute.io/zone',
  campus: 'metaroute.io/campus',
} as const;
export const RESERVED_LABEL_PREFIX = 'metaroute.io/';

/**
 * An instance id (registration, batch deregistration): a leading ':' too, so an IPv6 host's
 * default id (`::1:8080`) is one.
 */
export const INSTANCE_ID = /^[A-Za-z0-9:][A-Za-z0-9_.:-]{0,252}$/;

/** What a metadata label key may look like (registration, agent, router configs). */
export const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_.\/-]{0,127}$/;
/** Labels per instance, as PolarisMesh allows (metadata entries): each is indexed, and sent to Envoy with every endpoint. */
export const MAX_LABELS = 64;

/** The value of label `key` of an instance: its metadata, or its locality for the reserved keys. */
export function instanceLabel(instance: Instance, key: string): string | undefined {
  if (key.startsWith(RESERVED_LABEL_PREFIX)) {
    if (key === LOCALITY_LABELS.region) return instance.locality.region;
    if (key === LOCALITY_LABELS.zone) return instance.locality.zone;
    if (key === LOCALITY_LABELS.campus) return instance.locality.campus;
    return undefined;
  }
  return Object.hasOwn(instance.metadata, key) ? instance.metadata[key] : undefined;
}

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

/**
 * Whether an instance takes traffic: registered healthy, with a weight above 0. xDS hands a
 * weight-0 instance to Envoy as DRAINING, which Envoy sends nothing while another host can take
 * it: routing counts it out too, so a rule's priority group of draining instances fails over.
 */
export function serves(instance: Instance): boolean {
  return instance.healthy && instance.weight > 0;
}

export function endpointAddress(instance: Instance): string {
  return `${instance.host}:${instance.port}`;
}

/** True when the instance has every label (`''`: lacks the key), reserved locality keys included. */
export function hasLabels(instance: Instance, labels: Labels): boolean {
  for (const key in labels) if ((instanceLabel(instance, key) ?? '') !== labels[key]) return false;
  return true;
}
