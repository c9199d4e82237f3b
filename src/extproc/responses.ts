import type { Mutation } from '../model/decision';
import type { Decision, HeaderToSet } from '../model/decision';
import { ENDPOINT_LIST_KEY, LB_NAMESPACE } from '../model/envoy-contract';
import type { Labels } from '../model/instance';
import { encodeContinue, encodeHeadersAnswer, encodeImmediateResponse, encodeNamespaces } from './encode';

/** Header the route table matches to send a request to another cluster. */
export const CLUSTER_HEADER = 'x-metaroute-cluster';
/**
 * Dynamic-metadata namespace telling the access log why: `{"rule": "<name>"}` when a rule
 * applied, `{"metadataRoute": "<namespace>/<service>"}` when a metadata route did (both when both did).
 */
export const EXPLAIN_NAMESPACE = 'metaroute';

const NO_MUTATION: Mutation = { set: [], remove: [] };
/** Encoded answers per decision object. */
const subsetAnswers = new WeakMap<Labels, Answers>();
/** Encoded switches to another cluster per label set, then per cluster (MAX_CACHED_NAMES clusters at most). */
const switchAnswers = new WeakMap<Labels, Map<string, Answers>>();
/** Encoded endpoint-mode answers per endpoint list, then per first endpoint. */
const endpointAnswers = new WeakMap<readonly string[], Map<number, Answers>>();
/**
 * An endpoint-mode answer names the picked endpoint and at most this many in all: the ones after
 * it serve Envoy's retries (the shipped configs retry once), and a failover to a large service
 * would otherwise send every address of it with each request.
 */
const MAX_ENDPOINTS_SENT = 8;
/** Answers of longer lists are encoded per request: caching one per first endpoint would keep one per instance. */
const MAX_CACHED_LIST = 64;
/**
 * Rules (or metadata routes) cached per decision: more are encoded per request, so a custom
 * router naming a rule per request (ROUTERS.md asks for a fixed name) cannot grow the cache.
 */
const MAX_CACHED_NAMES = 16;

/**
 * The ProcessingResponse for a request_headers message. Decisions repeat far more often
 * than they change (the same labels object per rule destination, the same endpoint list
 * per subset), so answers without extra headers are encoded once and reused. The outcome's
 * `rule` and `metadataRoute` go into the `metaroute` namespace.
 */
export function encodeDecision(decision: Decision, mutation: Mutation = NO_MUTATION, rule = '', metadataRoute = ''): Buffer {
  switch (decision.kind) {
    case 'pass':
      return isEmpty(mutation) ? encodeContinue('request_headers') : headersAnswer(mutation.set, mutation.remove, undefined, false);
    case 'subset':
      return cached(subsetAnswers, decision.labels, rule, metadataRoute, mutation, (m) => headersAnswer(m.set, m.remove, withExplain(decision.labels, rule, metadataRoute), false));
    case 'endpoints':
      return endpointAnswer(decision.endpoints, decision.first, rule, metadataRoute, mutation);
    case 'cluster': {
      const encode = (m: Mutation) => switchAnswer(decision, rule, metadataRoute, m);
      // An endpoint-mode switch names the endpoint picked per request: not cached.
      if (decision.endpoints) return encode(mutation);
      let byCluster = switchAnswers.get(decision.labels);
      if (!byCluster) switchAnswers.set(decision.labels, (byCluster = new Map()));
      if (byCluster.size >= MAX_CACHED_NAMES && !byCluster.has(decision.cluster)) return encode(mutation);
      return cached(byCluster, decision.cluster, rule, metadataRoute, mutation, encode);
    }
    case 'reject':
      return encodeImmediateResponse(decision.status, `${decision.body}\n`, `metaroute_${decision.status}`);
  }
}

/** Longest router error put into an answer's metadata: a module's message has no bound of its own. */
const MAX_ERROR_CHARS = 256;

/**
 * A request whose router chain failed on a sidecar's outbound call: its header changes (metadata
 * propagation) and no routing; the error in the `metaroute` namespace, for the access log.
 */
export function encodeUnrouted(mutation: Mutation, error: string): Buffer {
  return headersAnswer(mutation.set, mutation.remove, encodeNamespaces({ [EXPLAIN_NAMESPACE]: { error: error.slice(0, MAX_ERROR_CHARS) } }), false);
}

/** A response_headers answer: CONTINUE, with the header changes if there are any. */
export function encodeResponseHeaders(mutation: Mutation): Buffer {
  if (isEmpty(mutation)) return encodeContinue('response_headers');
  return encodeHeadersAnswer({ phase: 'response_headers', setHeaders: mutation.set, removeHeaders: mutation.remove, clearRouteCache: false, dynamicMetadata: undefined });
}

function isEmpty(mutation: Mutation): boolean {
  return mutation.set.length === 0 && mutation.remove.length === 0;
}

function withExplain(lb: Labels, rule: string, metadataRoute: string): Uint8Array {
  const fields: Labels | '' = metadataRoute ? (rule ? { rule, metadataRoute } : { metadataRoute }) : rule && { rule };
  return encodeNamespaces(fields ? { [LB_NAMESPACE]: lb, [EXPLAIN_NAMESPACE]: fields } : { [LB_NAMESPACE]: lb });
}

/**
 * One decision's encoded answers, per what decided: the rule's name ('' for none), or the
 * metadata route then the rule when a route applied. Keyed by the strings the outcome carries,
 * so nothing keeps their pairs longer than the decision (rules renamed, routes gone).
 */
interface Answers {
  readonly byRule: Map<string, Buffer>;
  byRoute: Map<string, Map<string, Buffer>> | undefined;
}

/** The answers by rule under `metadataRoute`; undefined when MAX_CACHED_NAMES routes are cached and it is not one of them. */
function byRuleOf(answers: Answers, metadataRoute: string): Map<string, Buffer> | undefined {
  if (!metadataRoute) return answers.byRule;
  answers.byRoute ??= new Map();
  let byRule = answers.byRoute.get(metadataRoute);
  if (!byRule && answers.byRoute.size < MAX_CACHED_NAMES) answers.byRoute.set(metadataRoute, (byRule = new Map()));
  return byRule;
}

/** `encode(mutation)`, cached per key, rule and metadata route when the mutation is empty. */
function cached<K>(cache: { get(key: K): Answers | undefined; set(key: K, answers: Answers): unknown }, key: K, rule: string, metadataRoute: string, mutation: Mutation, encode: (mutation: Mutation) => Buffer): Buffer {
  if (!isEmpty(mutation)) return encode(mutation);
  let answers = cache.get(key);
  if (!answers) cache.set(key, (answers = { byRule: new Map(), byRoute: undefined }));
  const byRule = byRuleOf(answers, metadataRoute);
  let answer = byRule?.get(rule);
  if (answer) return answer;
  answer = encode(NO_MUTATION);
  if (byRule && byRule.size < MAX_CACHED_NAMES) byRule.set(rule, answer);
  return answer;
}

function endpointAnswer(endpoints: readonly string[], first: number, rule: string, metadataRoute: string, mutation: Mutation): Buffer {
  const encode = (m: Mutation) => headersAnswer(m.set, m.remove, withExplain({ [ENDPOINT_LIST_KEY]: endpointsFrom(endpoints, first) }, rule, metadataRoute), false);
  if (endpoints.length > MAX_CACHED_LIST) return encode(mutation);
  let byFirst = endpointAnswers.get(endpoints);
  if (!byFirst) endpointAnswers.set(endpoints, (byFirst = new Map()));
  return cached(byFirst, first, rule, metadataRoute, mutation, encode);
}

/** A switch to another cluster: the route table's header naming it, a route cache cleared, and its labels or endpoint list. */
function switchAnswer(decision: Extract<Decision, { kind: 'cluster' }>, rule: string, metadataRoute: string, mutation: Mutation): Buffer {
  const lb = decision.endpoints ? { [ENDPOINT_LIST_KEY]: endpointsFrom(decision.endpoints, decision.first!) } : decision.labels;
  const metadata = Object.keys(lb).length > 0 || rule || metadataRoute ? withExplain(lb, rule, metadataRoute) : undefined;
  return headersAnswer([...mutation.set, { key: CLUSTER_HEADER, value: decision.cluster }], mutation.remove, metadata, true);
}

/** `ip:port,ip:port…`: `endpoints[first]`, then the ones after it (wrapping round), MAX_ENDPOINTS_SENT at most. */
function endpointsFrom(endpoints: readonly string[], first: number): string {
  let value = endpoints[first]!;
  const count = Math.min(endpoints.length, MAX_ENDPOINTS_SENT);
  for (let i = 1; i < count; i++) value += `,${endpoints[(first + i) % endpoints.length]}`;
  return value;
}

function headersAnswer(set: readonly HeaderToSet[], remove: readonly string[], dynamicMetadata: Uint8Array | undefined, clearRouteCache: boolean): Buffer {
  return encodeHeadersAnswer({ phase: 'request_headers', setHeaders: set, removeHeaders: remove, clearRouteCache, dynamicMetadata });
}
