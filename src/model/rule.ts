import type { Labels } from './instance';

/** Where a traffic label is read from (PolarisMesh argument types, plus identity claims and environment). */
export type LabelSourceType =
  | 'header' // request header, lower-cased name
  | 'query' // query-string parameter of :path
  | 'cookie' // cookie in the `cookie` header
  | 'method' // :method
  | 'path' // :path without the query string
  | 'caller_service' // the calling service's name
  | 'caller_ip' // the downstream address Envoy reports
  | 'caller_metadata' // a label of the calling instance
  | 'claim' // a claim of the verified identity (JWT payload forwarded by Envoy)
  | 'env'; // an environment variable of the metaroute process

export const LABEL_SOURCE_TYPES: readonly LabelSourceType[] = [
  'header', 'query', 'cookie', 'method', 'path', 'caller_service', 'caller_ip', 'caller_metadata', 'claim', 'env',
];

/** Which sources need a key (all but method, path, caller_service and caller_ip). */
export function sourceNeedsKey(type: LabelSourceType): boolean {
  return type !== 'method' && type !== 'path' && type !== 'caller_service' && type !== 'caller_ip';
}

export interface LabelSource {
  readonly type: LabelSourceType;
  readonly key: string; // '' for sources without a key
}

export type MatchType = 'EXACT' | 'PREFIX' | 'REGEX' | 'NOT_EQUALS' | 'IN' | 'NOT_IN' | 'RANGE' | 'EXISTS';

export const MATCH_TYPES: readonly MatchType[] = ['EXACT', 'PREFIX', 'REGEX', 'NOT_EQUALS', 'IN', 'NOT_IN', 'RANGE', 'EXISTS'];

/** A compiled test of one traffic label value (`undefined` = the label is absent). */
export type ValueTest = (value: string | undefined) => boolean;

export interface CompiledArgument {
  readonly source: LabelSource;
  readonly test: ValueTest;
}

export interface CompiledSource {
  /** Caller service for inbound rules, callee service for outbound rules; '*' = any. */
  readonly service: string;
  readonly namespace: string;
  /** All must hold (AND). */
  readonly arguments: readonly CompiledArgument[];
}

export interface Destination {
  readonly name: string;
  /** Exact instance labels; in subset mode these keys become one `lb_subset_config` selector. */
  readonly labels: Labels;
  /** 0 is the highest priority. */
  readonly priority: number;
  readonly weight: number;
  /** An isolated group receives no traffic. */
  readonly isolate: boolean;
  /**
   * Another service's cluster (`<service>.<namespace>`): choosing this destination switches
   * the request to that cluster (cluster-switch decision), `labels` picking its subset there.
   */
  readonly cluster?: string;
}

export type Failover =
  | { readonly kind: 'all' }
  | { readonly kind: 'none' }
  | { readonly kind: 'group'; readonly name: string };

export interface CompiledRule {
  readonly name: string;
  readonly service: string;
  readonly namespace: string;
  readonly direction: 'inbound' | 'outbound';
  /** Any source matching selects the rule (OR); no sources = every request. */
  readonly sources: readonly CompiledSource[];
  /** Non-isolated destinations grouped by priority, highest priority (lowest number) first. */
  readonly priorityGroups: readonly (readonly Destination[])[];
  readonly destinations: readonly Destination[];
  readonly failover: Failover;
  /** When set, the weighted choice hashes this label instead of drawing at random (stickiness). */
  readonly stickyBy?: LabelSource;
}

export type MetadataFailover = 'none' | 'all' | 'others';

/** tRPC metarouter style: route to instances whose metadata equals the request's values for `keys`. */
export interface MetadataRoute {
  readonly service: string;
  readonly namespace: string;
  readonly keys: readonly string[];
  readonly failover: MetadataFailover;
  /** subset: labels to `envoy.lb`; endpoint: metaroute picks `ip:port` itself (per-user containers). */
  readonly mode: 'subset' | 'endpoint';
  /**
   * request: each key from the query, then a header, then a cookie (the tRPC metarouter's
   * order); claim: only from the verified identity, so a client cannot pick someone else's value.
   */
  readonly from: 'request' | 'claim';
  /** With `from: claim`: the claim (dotted path) holding each key. */
  readonly claims?: Readonly<Record<string, string>>;
}

/** One immutable, validated and compiled rule set. */
export interface RuleSnapshot {
  readonly version: number;
  /** The document it was compiled from, for the config dump. */
  readonly source: unknown;
  /** Rules attached to a callee, by serviceKey, in file order. */
  readonly inbound: ReadonlyMap<string, readonly CompiledRule[]>;
  /** Rules attached to a caller, by serviceKey, in file order. */
  readonly outbound: ReadonlyMap<string, readonly CompiledRule[]>;
  readonly metadataRoutes: ReadonlyMap<string, MetadataRoute>;
}
