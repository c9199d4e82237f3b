import type { RequestContext } from '../context/request-context';
import { DEFAULT_NAMESPACE, serviceKey } from '../model/instance';
import type { RegistrySnapshot, ServiceView } from '../registry/service-view';

/** A header naming the callee (`shop` or `shop.default`) where Envoy did not say which cluster its route chose; wins over :authority. */
export const SERVICE_HEADER = 'x-metaroute-service';

/**
 * The callee of a request: the cluster Envoy's route table chose (the decision's `envoy.lb`
 * labels act on that cluster, whatever a header or the Host said: an app copying the headers it
 * received must not make metaroute decide for the previous hop's callee); without one, the
 * explicit header, else the :authority host read as a cluster name (`shop.default`), a bare
 * service in the default namespace (`shop`), or a Kubernetes host (`shop.default.svc.cluster.local`).
 */
export function resolveTarget(ctx: RequestContext, registry: RegistrySnapshot): ServiceView | undefined {
  return lookupHost(ctx.routedCluster() ?? (ctx.header(SERVICE_HEADER) || hostOf(ctx.authority)), registry);
}

/**
 * Whether a sidecar's outbound call for `service` needs a cluster switch to reach it: Envoy routes
 * it by `:authority` as a cluster name, and the app called the service by another name metaroute
 * reads as it: its bare name (`b`, in the default namespace) or its Kubernetes name
 * (`b.default.svc`, `b.default.svc.cluster.local`). Not when Envoy's route chose the cluster,
 * nor for an `x-metaroute-service` header (an app may copy it from the call it received), nor
 * for another dotted host (`api.example.com` may be a cluster of its own).
 */
export function needsSwitch(ctx: RequestContext, service: ServiceView): boolean {
  const host = hostOf(ctx.authority);
  if (host === service.cluster || ctx.routedCluster() !== undefined || ctx.header(SERVICE_HEADER)) return false; // the common case first
  return host === service.name ? service.namespace === DEFAULT_NAMESPACE : host === `${service.cluster}.svc` || host === `${service.cluster}.svc.cluster.local`;
}

export function lookupHost(host: string, registry: RegistrySnapshot): ServiceView | undefined {
  if (!host) return undefined;
  // Namespaces have no '.', so a cluster name names one service.
  const asCluster = registry.clusters.get(host);
  if (asCluster) return asCluster;
  // A service in the default namespace by its bare name: `shop`, or a dotted `com.example.shop`.
  const bare = registry.services.get(serviceKey(DEFAULT_NAMESPACE, host));
  if (bare) return bare;
  const dot = host.indexOf('.');
  const second = dot < 0 ? -1 : host.indexOf('.', dot + 1);
  return second < 0 ? undefined : registry.clusters.get(host.slice(0, second));
}

function hostOf(authority: string): string {
  if (authority.startsWith('[')) return authority; // IP literal: never a service name
  const colon = authority.indexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}
