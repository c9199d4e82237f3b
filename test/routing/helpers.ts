import { subsetOf } from '../../src/routing/router-kit';
import { RequestContext, type Caller } from '../../src/context/request-context';
import type { Decision } from '../../src/model/decision';
import type { Instance, Labels, Locality } from '../../src/model/instance';
import type { ServiceView } from '../../src/registry/service-view';
import { Registry } from '../../src/registry/registry';
import type { TraceStep } from '../../src/model/trace';
import { RoutingEngine } from '../../src/routing/engine';
import type { Router } from '../../src/routing/router';
import { EMPTY_RULES } from '../../src/rules';

export interface InstanceSpec {
  service: string;
  port: number;
  metadata?: Record<string, string>;
  locality?: Locality;
  healthy?: boolean;
}

export function instance(spec: InstanceSpec): Instance {
  return {
    id: `${spec.service}-${spec.port}`,
    service: spec.service,
    namespace: 'default',
    host: '10.0.0.1',
    port: spec.port,
    weight: 100,
    metadata: spec.metadata ?? {},
    locality: spec.locality ?? {},
    healthy: spec.healthy ?? true,
    ephemeral: false,
    ttlSeconds: 15,
  };
}

/** An engine over a fixed registry snapshot and no rules, running `routers`. */
export function engineWith(instances: readonly InstanceSpec[], routers: readonly Router[]): RoutingEngine {
  const registry = new Registry();
  registry.batch(() => instances.forEach((spec) => registry.upsert(instance(spec))));
  const engine = new RoutingEngine({ registry: registry.snapshot(), rules: EMPTY_RULES });
  engine.setRouters(routers);
  return engine;
}

export function request(headers: Record<string, string> = {}, caller: Partial<Caller> = {}): RequestContext {
  return new RequestContext(
    { names: Object.keys(headers), values: Object.values(headers), bytes: 0, oversized: false },
    { service: caller.service ?? 'caller', namespace: caller.namespace ?? 'default', labels: caller.labels ?? {} },
    { metadataNamespace: 'envoy.filters.http.jwt_authn', payloadKey: 'jwt_payload' },
  );
}

export function view(engine: RoutingEngine, service: string): ServiceView {
  const v = engine.current.registry.services.get(`default/${service}`);
  if (!v) throw new Error(`no service ${service}`);
  return v;
}

export function decide(engine: RoutingEngine, service: string, ctx: RequestContext = request(), trace?: TraceStep[]): Decision {
  return engine.decide(ctx, view(engine, service), trace).decision;
}

/** A stand-in for an earlier router (a rule) that picks instances by labels. */
export function pickLabels(labels: Labels, order = 200): Router {
  return {
    name: 'pick',
    order,
    configure: () => undefined,
    route: (_ctx, input) => ({ kind: 'narrow', candidates: input.service.subset(labels), labels, note: 'pick' }),
  };
}

/** `10.0.0.1:<port>` endpoints, sorted, as the engine's endpoint decisions list them. */
/** A stand-in for a custom router that narrows to an explicit list no label set describes (one zone's instances). */
export function pickZone(zone: string, order = 150): Router {
  return {
    name: 'pick-zone',
    order,
    configure: () => undefined,
    route: (_ctx, input) => ({ kind: 'narrow', candidates: subsetOf(input.candidates, (i) => i.locality.zone === zone), labels: input.labels, note: `zone ${zone}` }),
  };
}

export function endpoints(...ports: number[]): string[] {
  return ports.map((p) => `10.0.0.1:${p}`);
}

export function sortedEndpoints(decision: Decision): string[] {
  if (decision.kind !== 'endpoints') throw new Error(`expected endpoints, got ${JSON.stringify(decision)}`);
  return [...decision.endpoints].sort();
}

/** `router` at another place in the chain. */
export function reorder(router: Router, order: number): Router {
  return { name: router.name, order, configure: (c) => router.configure(c), route: (ctx, input) => router.route(ctx, input) };
}
