import type { RequestContext } from '../context/request-context';
import type { Decision } from '../model/decision';
import { NO_LABELS, type Labels } from '../model/instance';
import type { RuleSnapshot } from '../model/rule';
import type { TraceStep } from '../model/trace';
import { healthyEndpoints, type RegistrySnapshot, type ServiceView, type Subset } from '../registry/service-view';
import { endpointDecision } from './endpoints';
import type { Router } from './router';
import { resolveTarget } from './target';

/** Registry and rules as one request sees them: swapped whole, never half-updated. */
export interface RoutingSnapshot {
  readonly registry: RegistrySnapshot;
  readonly rules: RuleSnapshot;
}

/** A decision and what made it: the rule and the metadata route (its service key) that applied, '' for none. */
export interface Outcome {
  readonly decision: Decision;
  readonly rule: string;
  readonly metadataRoute: string;
}

const UNKNOWN_SERVICE: Outcome = { decision: { kind: 'pass', reason: 'unknown service' }, rule: '', metadataRoute: '' };
const PASS_NO_ROUTE: Decision = { kind: 'pass', reason: 'no labels chosen: the whole cluster serves' };

/** Runs the router chain over one snapshot. Pure apart from the snapshot reference swap. */
export class RoutingEngine {
  private routers: readonly Router[] = [];

  constructor(private snapshot: RoutingSnapshot) {}

  get current(): RoutingSnapshot {
    return this.snapshot;
  }

  swap(snapshot: RoutingSnapshot): void {
    this.snapshot = snapshot;
  }

  setRouters(routers: readonly Router[]): void {
    this.routers = [...routers].sort((a, b) => a.order - b.order);
  }

  get routerNames(): readonly string[] {
    return this.routers.map((r) => r.name);
  }

  /** The chain in the order it runs. */
  get routerChain(): readonly { readonly name: string; readonly order: number }[] {
    return this.routers.map(({ name, order }) => ({ name, order }));
  }

  target(ctx: RequestContext): ServiceView | undefined {
    return resolveTarget(ctx, this.snapshot.registry);
  }

  /** `trace`, when given, receives one step per router (explain); the hot path passes none. */
  decide(ctx: RequestContext, service: ServiceView | undefined, trace?: TraceStep[]): Outcome {
    if (!service) return UNKNOWN_SERVICE;
    const { registry, rules } = this.snapshot;
    let candidates: Subset = service.all;
    let labels = NO_LABELS;
    let rule = '';
    let metadataRoute = '';
    const explaining = trace !== undefined;
    for (const router of this.routers) {
      const result = router.route(ctx, { service, candidates, labels, rules, registry, explaining });
      if (trace) {
        const after = !result ? candidates.instances.length : result.kind === 'narrow' ? result.candidates.instances.length : instancesLeft(result.decision, candidates);
        trace.push({ router: router.name, before: candidates.instances.length, after, labels: result?.kind === 'narrow' ? result.labels : labels, note: result?.note ?? 'no opinion', skipped: result?.skipped ?? [] });
      }
      if (!result) continue;
      if (result.rule) rule = result.rule;
      if (result.metadataRoute) metadataRoute = result.metadataRoute;
      if (result.kind === 'final') return { decision: result.decision, rule, metadataRoute };
      candidates = result.candidates;
      labels = result.labels;
    }
    const endpointMode = rules.metadataRoutes.get(service.key)?.mode === 'endpoint';
    return { decision: finish(service, candidates, labels, endpointMode), rule, metadataRoute };
  }
}

/** For explain: how many instances a router's final decision leaves (another cluster's are not counted here). */
function instancesLeft(decision: Decision, candidates: Subset): number {
  if (decision.kind === 'endpoints') return decision.endpoints.length;
  return decision.kind === 'reject' ? 0 : candidates.instances.length;
}

function hasKeys(labels: Labels): boolean {
  for (const _ in labels) return true;
  return false;
}

/**
 * Labels that describe the candidates exactly go to Envoy's subset LB; a narrowing no
 * label set describes (a custom router's pick), and anything for an endpoint-mode
 * service (an override_host cluster, which needs an address), becomes an endpoint list.
 */
function finish(service: ServiceView, candidates: Subset, labels: Labels, endpointMode: boolean): Decision {
  if (!endpointMode && candidates === service.subset(labels)) return hasKeys(labels) ? { kind: 'subset', labels } : PASS_NO_ROUTE;
  const endpoints = healthyEndpoints(candidates);
  if (endpoints.length === 0) return { kind: 'reject', status: 503, body: 'no healthy instance' };
  return endpointDecision(endpoints);
}
