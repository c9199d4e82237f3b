/** The four xDS resource types metaroute serves, and how the protocol treats each. */
export interface ResourceType {
  readonly url: string;
  /** Short name for metrics labels, logs and the config dump. */
  readonly short: 'cds' | 'eds' | 'lds' | 'rds';
  /**
   * LDS and CDS: a SotW response must carry every subscribed resource (a missing one means
   * deleted), and an initial request without names (or with "*") is a wildcard subscription.
   * EDS and RDS responses may carry only what changed and are always subscribed by name.
   */
  readonly fullState: boolean;
  /** Whether a wildcard subscription receives every resource of the type (see docs/XDS.md). */
  readonly wildcardServesAll: boolean;
}

const PREFIX = 'type.googleapis.com/';

export const CDS: ResourceType = { url: `${PREFIX}envoy.config.cluster.v3.Cluster`, short: 'cds', fullState: true, wildcardServesAll: true };
export const EDS: ResourceType = { url: `${PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`, short: 'eds', fullState: false, wildcardServesAll: false };
/**
 * Listeners exist only for proxyless gRPC (`api_listener`); Envoy rejects API listeners over
 * LDS, so a wildcard LDS subscription (Envoy's) gets none of them, only names asked for.
 */
export const LDS: ResourceType = { url: `${PREFIX}envoy.config.listener.v3.Listener`, short: 'lds', fullState: true, wildcardServesAll: false };
export const RDS: ResourceType = { url: `${PREFIX}envoy.config.route.v3.RouteConfiguration`, short: 'rds', fullState: false, wildcardServesAll: false };

/** ADS sequencing (xds_protocol.rst "eventual consistency"): CDS, then EDS, then LDS, then RDS. */
export const PUSH_ORDER: readonly ResourceType[] = [CDS, EDS, LDS, RDS];

const BY_URL = new Map(PUSH_ORDER.map((t) => [t.url, t]));

export function typeByUrl(url: string): ResourceType | undefined {
  return BY_URL.get(url);
}

/** Resource types by the section names of Envoy's config dump (`/config_dump?resource=clusters`). */
export const SECTIONS: Readonly<Record<string, ResourceType>> = { clusters: CDS, endpoints: EDS, listeners: LDS, routes: RDS };

/** Changed resource names per type, the unit a push hands to every stream. */
export type Changes = ReadonlyMap<ResourceType, ReadonlySet<string>>;
