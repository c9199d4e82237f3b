import type { Side } from '../context/propagation';
import { EXT_PROC_ATTRIBUTES, NO_CALLER } from '../context/request-context';
import { decideRequestHeaders, type DecideOptions, type Verdict } from '../extproc/decide';
import type { Decision } from '../model/decision';
import type { HeaderList } from '../model/headers';
import { DEFAULT_NAMESPACE, type Labels } from '../model/instance';
import type { RoutingEngine, TraceStep } from '../routing/engine';

/**
 * A request to explain, as JSON: the inputs Envoy's ext_proc filter sends, spelled out.
 * It goes through the same pipeline as a live request (size limits, edge guard, JWT check,
 * callee identification, router chain), so explain and Envoy cannot disagree.
 */
export interface ExplainRequest {
  /** The cluster Envoy's route chose (`xds.cluster_name`): `shop.default`, or `shop` in the default namespace. */
  cluster?: string;
  /** Shorthand for `cluster`. */
  service?: string;
  authority?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  caller?: { service?: string; namespace?: string; labels?: Labels };
  /** Which ext_proc call: `edge` (a gateway, the default: client headers untrusted), `outbound`, `inbound`. */
  side?: Side;
  /** Verified identity claims, as jwt_authn would forward them. */
  claims?: Record<string, unknown>;
  /** The client address Envoy reports (`source.address`), for caller_ip sources. */
  sourceAddress?: string;
}

export interface Explanation {
  service: string;
  cluster: string;
  rule: string;
  decision: Decision;
  /** Why the request was refused before routing (`spoofed_header`, ...), or ''. */
  refused: string;
  steps: TraceStep[];
}

/** Dry run over the live snapshot, with each router's input and output. */
export async function explain(engine: RoutingEngine, request: ExplainRequest, options: DecideOptions): Promise<Explanation> {
  const headers: HeaderList = { names: [], values: [], bytes: 0, oversized: false };
  const add = (name: string, value: string): void => {
    headers.names.push(name.toLowerCase());
    headers.values.push(value);
    headers.bytes += name.length + value.length;
  };
  add(':authority', request.authority ?? '');
  add(':path', request.path ?? '/');
  add(':method', request.method ?? 'GET');
  for (const [name, value] of Object.entries(request.headers ?? {})) add(name, String(value));
  headers.oversized = headers.bytes > options.maxHeaderBytes;

  const attributes: Record<string, unknown> = {};
  const cluster = request.cluster ?? request.service;
  if (cluster) attributes['xds.cluster_name'] = cluster;
  if (request.sourceAddress) attributes['source.address'] = request.sourceAddress;
  const claims = request.claims;
  const caller = request.caller?.service
    ? { service: request.caller.service, namespace: request.caller.namespace ?? DEFAULT_NAMESPACE, labels: request.caller.labels ?? {} }
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
      return { service: '', cluster: '', rule: '', decision: verdict.decision, refused: verdict.reason, steps };
    case 'inbound':
      return { service: '', cluster: '', rule: '', decision: verdict.decision, refused: '', steps };
    case 'routed':
      return { service: verdict.service?.key ?? '', cluster: verdict.service?.cluster ?? '', rule: verdict.outcome.rule, decision: verdict.outcome.decision, refused: '', steps };
  }
}
