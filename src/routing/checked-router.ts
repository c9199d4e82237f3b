import type { RequestContext } from '../context/request-context';
import type { Decision } from '../model/decision';
import { fixedSubset } from '../registry/service-view';
import type { Narrowed, RouteInput, RouteResult, Router } from './router';

/**
 * A custom router as the engine runs it: what its `route()` throws or returns wrong fails the
 * request with an error naming the router and the field. Without this, a result missing a
 * field failed later, inside a built-in router or the encoder ("Cannot read properties of
 * undefined"), and a reject without a status reached the client as Envoy's default, 200.
 * Built-in routers are not wrapped: the checks cost a few comparisons per custom router.
 */
export function checkedRouter(router: Router): Router {
  const fail = (what: string): Error => new Error(`router ${router.name}: route() ${what}`);
  return {
    name: router.name,
    order: router.order,
    configure: (config) => router.configure(config),
    ...(router.checkNew && { checkNew: (config: unknown) => router.checkNew!(config) }),
    ...(router.labelKeys && { labelKeys: () => router.labelKeys!() }),
    route(ctx: RequestContext, input: RouteInput): RouteResult {
      let result: RouteResult;
      try {
        result = router.route(ctx, input);
      } catch (error) {
        throw fail(`threw: ${(error as Error)?.message ?? String(error)}`);
      }
      if (result === undefined) return result;
      if (result === null || typeof result !== 'object') throw fail(`returned ${String(result)}: return undefined, a narrow or a final result`);
      // rule labels metaroute_decisions_total and goes into Envoy's metadata; note into explain.
      if (result.rule !== undefined && typeof result.rule !== 'string') throw fail('returned a rule that is not a string');
      if (result.note !== undefined && typeof result.note !== 'string') throw fail('returned a note that is not a string');
      if (result.skipped !== undefined && !isSkippedList(result.skipped)) throw fail('returned skipped that is not a list of { destination, priority, reason } (strings, and an integer priority)');
      if (result.kind === 'narrow') return checkedNarrow(result, fail);
      if (result.kind === 'final') {
        const problem = decisionProblem(result.decision);
        if (problem) throw fail(`returned a final result whose ${problem}`);
        return result;
      }
      throw fail(`returned kind ${JSON.stringify((result as { kind?: unknown }).kind)}: must be narrow or final`);
    },
  };
}

/**
 * A narrow result's candidates are a subset of the service (`input.service.subset(labels)`,
 * live) or the router's own pick, `{ instances }`: a pick is made a fixed subset here, so its
 * healthy count is right and the engine turns it into an endpoint list.
 */
function checkedNarrow(result: Narrowed, fail: (what: string) => Error): Narrowed {
  const problem = labelsProblem(result.labels, 'labels');
  if (problem) throw fail(`returned a narrow result whose ${problem}`);
  const candidates = result.candidates as Partial<Narrowed['candidates']> | undefined;
  if (candidates === null || typeof candidates !== 'object' || !Array.isArray(candidates.instances)) {
    throw fail('returned a narrow result without candidates: input.service.subset(labels), or { instances } taken from input.candidates.instances');
  }
  if (typeof candidates.version === 'number') return result;
  return { ...result, candidates: fixedSubset(candidates.instances) };
}

/** Explain's answer would fail to serialize anything else. */
function isSkippedList(skipped: unknown): boolean {
  return Array.isArray(skipped) && skipped.every((s: { destination?: unknown; priority?: unknown; reason?: unknown } | null) =>
    typeof s === 'object' && s !== null && typeof s.destination === 'string' && Number.isInteger(s.priority) && typeof s.reason === 'string');
}

function labelsProblem(labels: unknown, field: string): string | undefined {
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return `${field} is not an object of string values`;
  for (const [key, value] of Object.entries(labels)) if (typeof value !== 'string') return `${field}.${key} is not a string`;
  return undefined;
}

/** What is wrong with a final result's decision (the shapes of src/model/decision.ts), or undefined. */
function decisionProblem(decision: Decision | undefined): string | undefined {
  if (decision === null || typeof decision !== 'object') return 'decision is missing';
  switch (decision.kind) {
    case 'pass':
      return undefined;
    case 'reject':
      if (!Number.isInteger(decision.status) || decision.status < 200 || decision.status > 599) return 'decision.status is not an HTTP status (200-599)';
      return typeof decision.body === 'string' ? undefined : 'decision.body is not a string';
    case 'subset':
      return labelsProblem(decision.labels, 'decision.labels');
    case 'cluster':
      if (typeof decision.cluster !== 'string' || decision.cluster === '') return 'decision.cluster is not a cluster name';
      return labelsProblem(decision.labels, 'decision.labels') ?? (decision.endpoints === undefined ? undefined : endpointsProblem(decision.endpoints, decision.first));
    case 'endpoints':
      return endpointsProblem(decision.endpoints, decision.first);
    default:
      return `decision.kind ${JSON.stringify((decision as { kind?: unknown }).kind)} is not one of pass, reject, subset, cluster, endpoints`;
  }
}

function endpointsProblem(endpoints: readonly string[], first: number | undefined): string | undefined {
  if (!Array.isArray(endpoints) || endpoints.length === 0 || endpoints.some((e) => typeof e !== 'string')) return 'decision.endpoints is not a list of ip:port';
  return Number.isInteger(first) && first! >= 0 && first! < endpoints.length ? undefined : 'decision.first is not an index of decision.endpoints';
}
