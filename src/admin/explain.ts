import { RequestContext, type IdentityOptions } from '../context/request-context';
import type { HeaderList } from '../model/headers';
import { DEFAULT_NAMESPACE, type Labels } from '../model/instance';
import type { RoutingEngine, TraceStep } from '../routing/engine';
import type { Decision } from '../model/decision';
import { lookupHost } from '../routing/target';

/** A request to explain, as JSON: what Envoy would send, spelled out. */
export interface ExplainRequest {
  /** `shop`, `shop.default`; else taken from headers like Envoy's request. */
  service?: string;
  headers?: Record<string, string>;
  caller?: { service?: string; namespace?: string; labels?: Labels };
  /** Verified identity claims, as jwt_authn would forward them. */
  claims?: Record<string, unknown>;
}

export interface Explanation {
  service: string;
  cluster: string;
  rule: string;
  decision: Decision;
  steps: TraceStep[];
}

/** Dry run: the router chain over the live snapshot, with each router's input and output. */
export function explain(engine: RoutingEngine, request: ExplainRequest, identity: IdentityOptions): Explanation {
  const headers: HeaderList = { names: [], values: [], bytes: 0, oversized: false };
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers.names.push(name.toLowerCase());
    headers.values.push(String(value));
  }
  const caller = {
    service: request.caller?.service ?? '',
    namespace: request.caller?.namespace ?? DEFAULT_NAMESPACE,
    labels: request.caller?.labels ?? {},
  };
  const claims = request.claims;
  const ctx = new RequestContext(headers, caller, identity, {
    filterMetadata: () => (claims ? { [identity.metadataNamespace]: { [identity.payloadKey]: claims } } : {}),
    attributes: () => ({}),
  });
  const target = request.service ? lookupHost(request.service, engine.current.registry) : engine.target(ctx);
  const steps: TraceStep[] = [];
  const outcome = engine.decide(ctx, target, steps);
  return { service: target ? target.key : '', cluster: target?.cluster ?? '', rule: outcome.rule, decision: outcome.decision, steps };
}
