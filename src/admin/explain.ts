import { EXT_PROC_ATTRIBUTES, NO_CALLER } from '../context/request-context';
import { keyList } from '../extproc/caller';
import { decideRequestHeaders, type DecideOptions, type Verdict } from '../extproc/decide';
import type { Decision, Mutation } from '../model/decision';
import type { HeaderList } from '../model/headers';
import { DEFAULT_NAMESPACE } from '../model/instance';
import type { Side } from '../model/side';
import type { TraceStep } from '../model/trace';
import type { RegistrySnapshot, ServiceView } from '../registry/service-view';
import { ignoredEndpointList } from '../routing/endpoints';
import type { RoutingEngine } from '../routing/engine';
import { lookupHost, SERVICE_HEADER } from '../routing/target';
import type { ExplainRequest, Explanation } from './explain-types';
import { HttpError } from './http';

/** A refused request is not forwarded: no header changes. */
const NO_MUTATION: Mutation = { set: [], remove: [] };

const SIDES: readonly Side[] = ['edge', 'outbound', 'inbound'];

const FIELDS: Readonly<Record<keyof ExplainRequest, readonly string[] | 'strings' | 'object' | 'string'>> = {
  cluster: 'string',
  service: 'string',
  authority: 'string',
  path: 'string',
  method: 'string',
  headers: 'strings',
  caller: ['service', 'namespace', 'labels', 'transitive'],
  side: 'string',
  claims: 'object',
  sourceAddress: 'string',
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
    const kind = Object.hasOwn(FIELDS, key) ? FIELDS[key as keyof ExplainRequest] : undefined; // not Object.prototype's `constructor`
    if (kind === undefined) problems.push(`${key}: unknown field (expected one of ${Object.keys(FIELDS).join(', ')})`);
    else if (kind === 'string' && typeof value !== 'string') problems.push(`${key}: must be a string`);
    else if (kind === 'strings') strings(value, key);
    else if (kind === 'object' && !isObject(value)) problems.push(`${key}: must be an object`);
    else if (Array.isArray(kind)) {
      if (!isObject(value)) problems.push(`${key}: must be an object`);
      else for (const [k, v] of Object.entries(value)) {
        if (!kind.includes(k)) problems.push(`${key}.${k}: unknown field (expected one of ${kind.join(', ')})`);
        else if (k === 'labels') strings(v, `${key}.${k}`);
        else if (k === 'transitive') {
          if (!Array.isArray(v) || v.some((t) => typeof t !== 'string')) problems.push(`${key}.${k}: must be a list of strings`);
        }
        else if (typeof v !== 'string') problems.push(`${key}.${k}: must be a string`);
      }
    }
  }
  if (body.side !== undefined && !SIDES.includes(body.side as Side)) problems.push(`side: must be one of ${SIDES.join(', ')}`);
  const sidecar = body.side === 'outbound' || body.side === 'inbound';
  if (sidecar && body.authority !== undefined && (body.cluster ?? body.service) !== undefined) problems.push(`${body.cluster === undefined ? 'service' : 'cluster'}: a sidecar's route takes its cluster from authority (side ${body.side}): give one of them`);
  // The live path reads no caller without x-metaroute-caller-service: its labels would be dropped unseen.
  const sent = isObject(body.caller) ? body.caller : {};
  if (sent.service === undefined && ['namespace', 'labels', 'transitive'].some((k) => sent[k] !== undefined)) problems.push('caller.service: required with caller.namespace, labels or transitive (without it a request has no caller)');
  const caller = problems.length === 0 ? (body as ExplainRequest).caller : undefined;
  for (const [key, value] of Object.entries(caller?.labels ?? {})) {
    if (value.includes(',')) problems.push(`caller.labels.${key}: must hold no ',' (x-metaroute-caller-labels separates labels with it), got ${JSON.stringify(value.slice(0, 80))}`);
  }
  const unlabelled = transitiveKeys(caller?.transitive).filter((k) => !Object.hasOwn(caller?.labels ?? {}, k));
  if (unlabelled.length) problems.push(`caller.transitive: ${unlabelled.map((k) => JSON.stringify(k)).join(', ')} not among caller.labels (ext_proc refuses a sidecar's streams whose metadata says so)`);
  if (problems.length) throw new HttpError(400, 'invalid explain request', problems);
  return body as ExplainRequest;
}

/** Transitive keys as the live path reads x-metaroute-caller-transitive, each entry possibly a comma list. */
function transitiveKeys(keys: readonly string[] = []): string[] {
  return keys.flatMap(keyList);
}

/** The label-key sets xDS serves as a service's subset selectors (`namespace/service`). */
export type Selectors = (serviceKey: string) => readonly (readonly string[])[];

/** Dry run over the live snapshot, with each router's input and output; 404 when no registered service is the callee. */
export async function explain(engine: RoutingEngine, request: ExplainRequest, options: DecideOptions, selectors: Selectors): Promise<Explanation> {
  const headers: HeaderList = { names: [], values: [], bytes: 0, oversized: false };
  const add = (name: string, value: string): void => {
    headers.names.push(name.toLowerCase());
    headers.values.push(value);
    headers.bytes += name.length + value.length;
  };
  // A sidecar's streams carry no route cluster: its outbound route takes :authority, the name the
  // app called, so there `cluster` or `service` stands for that name (a bare one is switched, as live).
  const sidecar = request.side === 'outbound' || request.side === 'inbound';
  const named = request.cluster ?? request.service;
  add(':authority', request.authority ?? (sidecar ? named : undefined) ?? '');
  add(':path', request.path ?? '/');
  add(':method', request.method ?? 'GET');
  for (const [name, value] of Object.entries(request.headers ?? {})) add(name, String(value));
  headers.oversized = headers.bytes > options.maxHeaderBytes;

  const attributes: Record<string, unknown> = {};
  // At a gateway `service` (`shop`) stands for the cluster its route would have chosen (`shop.default`).
  const cluster = sidecar ? undefined : request.cluster ?? (request.service && (lookupHost(request.service, engine.current.registry)?.cluster ?? request.service));
  if (cluster) attributes['xds.cluster_name'] = cluster;
  if (request.sourceAddress) attributes['source.address'] = request.sourceAddress;
  const claims = request.claims;
  const transitive = transitiveKeys(request.caller?.transitive);
  const caller = request.caller?.service
    ? { service: request.caller.service, namespace: request.caller.namespace ?? DEFAULT_NAMESPACE, labels: request.caller.labels ?? {}, ...(transitive.length > 0 && { transitive }) }
    : NO_CALLER;
  const steps: TraceStep[] = [];
  const verdict: Verdict = await decideRequestHeaders(
    engine,
    options,
    {
      headers,
      caller,
      side: request.side ?? 'edge',
      parts: {
        filterMetadata: () => (claims ? { [options.identity.metadataNamespace]: { [options.identity.payloadKey]: claims } } : {}),
        attributes: () => ({ [EXT_PROC_ATTRIBUTES]: attributes }),
      },
    },
    steps,
  );
  switch (verdict.kind) {
    case 'refused':
      return { service: '', cluster: '', rule: '', decision: verdict.decision, refused: verdict.reason, steps, headerMutation: NO_MUTATION, endpointsIgnored: '', labelsIgnored: '' };
    case 'inbound':
      return { service: '', cluster: '', rule: '', decision: verdict.decision, refused: '', steps, headerMutation: verdict.mutation, endpointsIgnored: '', labelsIgnored: '' };
    case 'routed': {
      const { service, outcome } = verdict;
      if (!service) {
        const asked = cluster ?? request.headers?.[SERVICE_HEADER] ?? request.authority ?? named;
        throw new HttpError(404, asked ? `no registered service matches ${JSON.stringify(asked)}` : `no callee named: give cluster (or service), an ${SERVICE_HEADER} header or an authority`);
      }
      const { registry, rules } = engine.current;
      const endpointsIgnored = ignoredEndpointList(outcome.decision, service, registry, rules) ?? '';
      const labelsIgnored = ignoredLabels(outcome.decision, service, registry, selectors);
      return { service: service.key, cluster: service.cluster, rule: outcome.rule, decision: outcome.decision, refused: '', steps, headerMutation: verdict.mutation, endpointsIgnored, labelsIgnored };
    }
  }
}

/**
 * Why Envoy's subset load balancer will not honour the decision's labels, or '': it uses a subset
 * only when a selector has exactly their keys, else it falls back to any endpoint of the cluster
 * (a custom router that adds keys without declaring them in labelKeys()).
 */
function ignoredLabels(decision: Decision, callee: ServiceView, registry: RegistrySnapshot, selectors: Selectors): string {
  if (decision.kind !== 'subset' && (decision.kind !== 'cluster' || decision.endpoints)) return '';
  const target = decision.kind === 'subset' ? callee : registry.clusters.get(decision.cluster);
  if (!target) return '';
  const keys = Object.keys(decision.labels).sort();
  if (keys.length === 0 || selectors(target.key).some((s) => s.length === keys.length && s.every((k, i) => k === keys[i]))) return '';
  return `${target.cluster} has no subset selector with exactly the keys ${keys.join(', ')}, so Envoy's load balancer picks any endpoint of the cluster: a router that adds label keys declares them in labelKeys()`;
}
