import { spoofedHeaders, withoutHeaders, type EdgeGuardConfig, type JwtVerifier } from '../context/identity';
import { metadataBytes, requestPropagation } from '../context/propagation';
import { RequestContext, type Caller, type IdentityOptions, type LazyRequestParts } from '../context/request-context';
import type { Decision, Mutation } from '../model/decision';
import { NO_LABELS } from '../model/instance';
import type { Side } from '../model/side';
import type { TraceStep } from '../model/trace';
import type { HeaderList } from '../model/headers';
import type { ServiceView } from '../registry/service-view';
import type { Outcome, RoutingEngine } from '../routing/engine';
import { needsSwitch } from '../routing/target';
import { WireError } from './wire';

export interface DecideOptions {
  /** Request headers beyond this many bytes (names + values) are answered with 431; nor does propagation take a request past it. */
  readonly maxHeaderBytes: number;
  /** Envoy's `max_headers_count`: propagation does not take a request past it. */
  readonly maxHeadersCount: number;
  /** Metadata beyond this many bytes (as `metadataBytes` counts it) is answered with 400. */
  readonly maxMetadataBytes: number;
  readonly identity: IdentityOptions;
  /** metaroute's own JWT check; undefined when Envoy's jwt_authn does it (or nobody). */
  readonly jwt: JwtVerifier | undefined;
  readonly edge: EdgeGuardConfig;
  /** A router failing on a sidecar's outbound call: answered unrouted with its propagation, or the stream failed (`ExtProc config`). */
  readonly outboundRouterFailure: 'pass' | 'fail';
}

/** One request as Envoy presents it: headers, who is calling, which side, and the lazily decoded rest. */
export interface RequestInput {
  readonly headers: HeaderList;
  readonly caller: Caller;
  readonly side: Side;
  readonly parts: LazyRequestParts;
}

/** Why a request is refused before routing: the `reason` label of metaroute_rejected_requests_total. */
export const REFUSAL_REASONS = ['oversized_headers', 'spoofed_header', 'oversized_metadata', 'invalid_jwt'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export type Verdict =
  /** Refused before routing (oversized, spoofed, bad token). */
  | { readonly kind: 'refused'; readonly reason: RefusalReason; readonly decision: Decision }
  /** A sidecar's inbound call: metadata propagation only, its destination is this instance. */
  | { readonly kind: 'inbound'; readonly decision: Decision; readonly mutation: Mutation }
  | {
      readonly kind: 'routed';
      readonly service: ServiceView | undefined;
      readonly outcome: Outcome;
      readonly mutation: Mutation;
      /** A sidecar's outbound call whose router chain failed: the error; the outcome is a pass. */
      readonly routerError?: string;
    };

const INBOUND_PASS: Decision = { kind: 'pass', reason: 'inbound call: the destination is this instance' };

/**
 * The request-headers pipeline, shared by ext_proc and explain so that they can never
 * disagree: size limits, the edge guard, metadata propagation, metaroute's own JWT check,
 * then the router chain. Synchronous unless a token has to be verified.
 * The inbound call of a sidecar only propagates metadata: its destination is fixed.
 */
export function decideRequestHeaders(engine: RoutingEngine, options: DecideOptions, input: RequestInput, trace?: TraceStep[]): Verdict | Promise<Verdict> {
  let headers = input.headers;
  const mutation: Mutation = { set: [], remove: [] };
  if (input.side === 'inbound') {
    requestPropagation('inbound', headers, mutation, options);
    return { kind: 'inbound', decision: INBOUND_PASS, mutation };
  }
  if (headers.oversized) return refuse('oversized_headers', 431, `request headers exceed ${options.maxHeaderBytes} bytes`);
  if (input.side === 'edge') {
    const spoofed = spoofedHeaders(headers, options.edge);
    if (spoofed.length > 0) {
      if (options.edge.onSpoofed === 'reject') return refuse('spoofed_header', 403, `client may not set ${spoofed.join(', ')}`);
      headers = withoutHeaders(headers, spoofed);
      mutation.remove.push(...spoofed);
    }
  }
  if (metadataBytes(headers) > options.maxMetadataBytes) {
    return refuse('oversized_metadata', 400, `metadata (rpc-*, X-SCT-/X-Polaris-Metadata-Transitive-*, SCT-CUSTOM-* headers) exceeds ${options.maxMetadataBytes} bytes`);
  }
  const strippedAtEdge = mutation.remove.length; // already gone from `headers`
  requestPropagation(input.side, headers, mutation, options, input.caller);
  // Routing sees the request as it is forwarded: a one-hop value dropped as a copy was for the previous hop.
  if (mutation.remove.length > strippedAtEdge) headers = withoutHeaders(headers, mutation.remove.slice(strippedAtEdge));
  const ctx = new RequestContext(headers, input.caller, options.identity, input.parts);
  const verifying = options.jwt?.verify(headers);
  const answersFailure = input.side === 'outbound' && options.outboundRouterFailure === 'pass';
  const outbound = input.side === 'outbound';
  if (!verifying) return route(engine, ctx, outbound, answersFailure, mutation, trace);
  return verifying.then((result) => {
    if (!result.ok) return refuse('invalid_jwt', 401, `invalid token: ${result.reason}`);
    ctx.verifiedClaims = result.claims;
    return route(engine, ctx, outbound, answersFailure, mutation, trace);
  });
}

/**
 * Runs the router chain; on a sidecar's outbound call to a callee its route would not reach by
 * name, the decision switches to the callee's cluster. A router failing (a custom router throwing or answering something
 * invalid) on a sidecar's outbound call is, with `outboundRouterFailure: pass`, answered with the
 * propagation and no routing: what a fail-open sidecar's failure_mode_allow would do to a failed
 * stream, except that the next hop still gets the caller's metadata. Otherwise (and always at
 * the edge) it fails the stream, so that Envoy's failure_mode_allow decides (the shipped gateway
 * fails closed: per-user routing must not fall back to any container).
 */
function route(engine: RoutingEngine, ctx: RequestContext, outbound: boolean, answersFailure: boolean, mutation: Mutation, trace: TraceStep[] | undefined): Verdict {
  const service = engine.target(ctx);
  try {
    const outcome = engine.decide(ctx, service, trace);
    // A sidecar's outbound route takes the cluster from :authority; a gateway's route table chooses its own.
    return { kind: 'routed', service, outcome: outbound && service && needsSwitch(ctx, service) ? switchedTo(service.cluster, outcome) : outcome, mutation };
  } catch (error) {
    // A malformed part of the frame decoded on demand (a claim rule reading metadata_context) is Envoy's error, not a router's.
    if (!answersFailure || error instanceof WireError) throw error;
    const routerError = (error as Error)?.message ?? String(error);
    // Unrouted, as without metaroute: a callee called by its service name alone then finds no cluster.
    const decision: Decision = { kind: 'pass', reason: `${routerError}; answered without routing (a sidecar fails open)` };
    return { kind: 'routed', service, outcome: { decision, rule: '', metadataRoute: '' }, mutation, routerError };
  }
}

/**
 * The outcome for a callee Envoy's route would not reach (an `:authority` of `b` finds no
 * cluster `b`): the same choice, as a switch to the callee's cluster (the route table's
 * `x-metaroute-cluster` route). A rule's own cluster and a rejection stay as they are.
 */
function switchedTo(cluster: string, outcome: Outcome): Outcome {
  const decision = outcome.decision;
  switch (decision.kind) {
    case 'pass':
      return { ...outcome, decision: { kind: 'cluster', cluster, labels: NO_LABELS } };
    case 'subset':
      return { ...outcome, decision: { kind: 'cluster', cluster, labels: decision.labels } };
    case 'endpoints':
      return { ...outcome, decision: { kind: 'cluster', cluster, labels: NO_LABELS, endpoints: decision.endpoints, first: decision.first } };
    default:
      return outcome;
  }
}

function refuse(reason: RefusalReason, status: number, body: string): Verdict {
  return { kind: 'refused', reason, decision: { kind: 'reject', status, body } };
}
