import { RequestContext, type IdentityOptions } from '../context/request-context';
import type { HeaderList } from '../model/headers';
import { DEFAULT_NAMESPACE, type Labels } from '../model/instance';
import type { RoutingEngine, TraceStep } from '../routing/engine';
import type { Decision } from '../model/decision';
import { lookupHost, SERVICE_HEADER } from '../routing/target';
import { HttpError } from './http';

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

const FIELDS: Readonly<Record<string, readonly string[] | 'strings' | 'object' | 'string'>> = {
  service: 'string',
  headers: 'strings',
  caller: ['service', 'namespace', 'labels'],
  claims: 'object',
};

/** Checks an explain body: a 400 names each unknown or mistyped field. */
export function parseExplainRequest(body: unknown): ExplainRequest {
  const problems: string[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const strings = (v: unknown, at: string) => {
    if (!isObject(v)) problems.push(`${at}: must be an object`);
    else for (const [k, s] of Object.entries(v)) if (typeof s !== 'string') problems.push(`${at}.${k}: must be a string`);
  };
  if (!isObject(body)) throw new HttpError(400, 'body must be a JSON object');
  for (const [key, value] of Object.entries(body)) {
    const kind = FIELDS[key];
    if (kind === undefined) problems.push(`${key}: unknown field (expected one of ${Object.keys(FIELDS).join(', ')})`);
    else if (kind === 'string' && typeof value !== 'string') problems.push(`${key}: must be a string`);
    else if (kind === 'strings') strings(value, key);
    else if (kind === 'object' && !isObject(value)) problems.push(`${key}: must be an object`);
    else if (Array.isArray(kind)) {
      if (!isObject(value)) problems.push(`${key}: must be an object`);
      else for (const [k, v] of Object.entries(value)) {
        if (!kind.includes(k)) problems.push(`${key}.${k}: unknown field (expected one of ${kind.join(', ')})`);
        else if (k === 'labels') strings(v, `${key}.${k}`);
        else if (typeof v !== 'string') problems.push(`${key}.${k}: must be a string`);
      }
    }
  }
  if (problems.length) throw new HttpError(400, 'invalid explain request', problems);
  return body as ExplainRequest;
}

/** Dry run: the router chain over the live snapshot, with each router's input and output. 404 when no registered service is the callee. */
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
  if (!target) {
    const asked = request.service ?? ctx.header(SERVICE_HEADER) ?? ctx.authority;
    throw new HttpError(404, asked ? `no registered service matches ${JSON.stringify(asked)}` : `no service named: give service, or an ${SERVICE_HEADER} or :authority header`);
  }
  const steps: TraceStep[] = [];
  const outcome = engine.decide(ctx, target, steps);
  return { service: target.key, cluster: target.cluster, rule: outcome.rule, decision: outcome.decision, steps };
}
