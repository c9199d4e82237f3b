import type { Labels } from './instance';

/** A header the decision sets on the request (propagation, cluster switch). */
export interface HeaderToSet {
  readonly key: string;
  readonly value: string;
}

/** The request (or response) header changes ext_proc answers with besides a decision's own. */
export interface Mutation {
  readonly set: HeaderToSet[];
  readonly remove: string[];
}

/** What metaroute tells Envoy to do with one request. */
export type Decision =
  /** No routing opinion: Envoy continues with the route's own choice. */
  | { readonly kind: 'pass'; readonly reason: string }
  /** Subset mode: these labels go to `envoy.lb` and must be exactly one selector's keys. */
  | { readonly kind: 'subset'; readonly labels: Labels }
  /**
   * Endpoint mode: the `ip:port`s that may serve, for the override_host policy, which takes them
   * in order: the request goes to `endpoints[first]` (picked by weight), its retries to the next.
   */
  | { readonly kind: 'endpoints'; readonly endpoints: readonly string[]; readonly first: number }
  /**
   * Another cluster: a header the route table matches, plus clearing the route cache; labels
   * pick its subset. An endpoint-mode cluster (override_host) takes addresses instead: then
   * `endpoints` and `first` are the labels' instances there, as in an `endpoints` decision.
   */
  | { readonly kind: 'cluster'; readonly cluster: string; readonly labels: Labels; readonly endpoints?: readonly string[]; readonly first?: number }
  /** A local reply; Envoy does not forward the request. */
  | { readonly kind: 'reject'; readonly status: number; readonly body: string };
