import type { Decision } from '../model/decision';
import type { RuleSnapshot } from '../model/rule';
import { pickEndpoint, type RegistrySnapshot, type ServiceView } from '../registry/service-view';

/** An endpoint-mode decision over a registry endpoint list; which endpoint serves this request is picked by weight. */
export function endpointDecision(endpoints: readonly string[]): Decision & { kind: 'endpoints' } {
  return { kind: 'endpoints', endpoints, first: pickEndpoint(endpoints) };
}

/**
 * Why Envoy will not honour a decision's endpoint list, or undefined when it does (or there is
 * none). Only an endpoint-mode cluster (a metadata route with `mode: endpoint`) has the
 * override_host policy that reads the list; a subset-mode cluster's load balancer has no
 * selector for its key and falls back to any endpoint. A custom router's own pick
 * (`{ instances }`) or final endpoint list for a subset-mode service ends there.
 */
export function ignoredEndpointList(decision: Decision, callee: ServiceView, registry: RegistrySnapshot, rules: RuleSnapshot): string | undefined {
  let cluster: string;
  if (decision.kind === 'endpoints') cluster = callee.cluster;
  else if (decision.kind === 'cluster' && decision.endpoints) cluster = decision.cluster;
  else return undefined;
  const target = registry.clusters.get(cluster);
  if (!target) return `${cluster} is not a cluster metaroute serves: Envoy reads the endpoint list only if that cluster's own load-balancing policy is override_host`;
  if (rules.metadataRoutes.get(target.key)?.mode === 'endpoint') return undefined;
  return `${cluster} is in subset mode (no metadata route with mode: endpoint): Envoy reads an endpoint list only on an endpoint-mode (override_host) cluster, so its load balancer picks any endpoint of the cluster`;
}
