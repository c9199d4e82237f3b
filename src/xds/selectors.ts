import { clusterName } from '../model/instance';
import type { CompiledRule, CompiledSource, Destination, RuleSnapshot } from '../model/rule';
import { runToEnd, type Steps } from '../model/slices';

/** How a service's Cluster lets Envoy pick the subset (or endpoint) ext_proc chose. */
export interface SubsetPolicy {
  /** Sorted label-key sets, sorted: each becomes one `lb_subset_config.subset_selectors[].keys`. */
  readonly selectors: readonly (readonly string[])[];
  /** Every key of every selector: endpoints lacking one carry it with value "" (see buildAssignment). */
  readonly keys: readonly string[];
  /**
   * A metadata route in endpoint mode: ext_proc picks `ip:port`, so the cluster uses
   * override_host; selectors beside it serve a switch between modes (`switching`, mergePolicies).
   */
  readonly endpointMode: boolean;
  /**
   * Endpoint mode while the service switches from or to subset mode: the subset side's requests
   * carry labels or no `envoy.lb` at all, and must fall back to the selectors or any endpoint,
   * not to endpoint mode's no-host fallback (see mergePolicies).
   */
  readonly switching?: true;
}

/** Rules and router label keys: what a service's selectors are derived from. */
export interface SelectorBasis {
  readonly rules: RuleSnapshot;
  readonly routerKeys: readonly string[];
}

/** No change rolling out (one shared object, so the builder sees nothing changed). */
export const NONE_HELD: readonly SelectorBasis[] = [];

/**
 * Every selector of any of the policies: during a rollout Envoy must be able to act on the
 * decisions of the rules before and after it. A service switching between subset and
 * endpoint mode gets both: override_host for the endpoint lists of one side, falling back
 * to the subset selectors for the labels of the other.
 */
export function mergePolicies(policies: readonly SubsetPolicy[]): SubsetPolicy {
  if (policies.length === 1) return policies[0]!;
  const selectors = new Map<string, readonly string[]>();
  for (const policy of policies) for (const keys of policy.selectors) addKeys(selectors, keys);
  const merged = subsetMode(selectors);
  if (!policies.some((p) => p.endpointMode)) return merged;
  return policies.some((p) => !p.endpointMode) ? { ...merged, endpointMode: true, switching: true } : { ...merged, endpointMode: true };
}

/**
 * Derives the subset selectors of the service `key` (`namespace/service`) from every rule
 * that can write labels into `envoy.lb` for calls to it: its inbound rules, outbound rules of
 * any caller whose sources name it (or '*', or have no sources, which match every callee),
 * and its metadata route in subset mode. A request's `envoy.lb` keys use a subset only when
 * some selector has exactly that key set, so each destination contributes its own set.
 */
export function subsetPolicy(rules: RuleSnapshot, key: string, routerKeys: readonly string[] = []): SubsetPolicy {
  // A rollout builds every cluster from the new rules and from the held old ones, twice: each policy is computed once per snapshot.
  let memo = policies.get(rules);
  if (!memo) policies.set(rules, (memo = new Map()));
  const memoKey = `${key}\u0001${routerKeys.join('\u0000')}`;
  let policy = memo.get(memoKey);
  if (!policy) memo.set(memoKey, (policy = computePolicy(rules, key, routerKeys)));
  return policy;
}

const policies = new WeakMap<RuleSnapshot, Map<string, SubsetPolicy>>();

/**
 * Computes (and keeps) the policies of `keys` under `basis` one service per step, its
 * selector index a rule per step before them: for a new rule set, before a rollout's rebuild
 * asks for them all at once (1,000 rules over 100 services: 4-6 ms in one go).
 */
export function* policySteps(basis: SelectorBasis, keys: Iterable<string>): Steps<void> {
  if (!indexes.has(basis.rules)) indexes.set(basis.rules, yield* indexSteps(basis.rules));
  for (const key of keys) {
    subsetPolicy(basis.rules, key, basis.routerKeys);
    yield;
  }
}

function computePolicy(rules: RuleSnapshot, key: string, routerKeys: readonly string[]): SubsetPolicy {
  const slash = key.indexOf('/');
  const namespace = key.slice(0, slash);
  const service = key.slice(slash + 1);
  const selectors = new Map<string, readonly string[]>();

  const addRule = (rule: CompiledRule): void => {
    // A cluster-switch destination's labels select a subset of the other cluster, not this one.
    for (const destination of rule.destinations) if (!destination.cluster) addKeys(selectors, destinationKeys(destination));
  };

  const index = indexOf(rules);
  for (const rule of rules.inbound.get(key) ?? []) addRule(rule);
  for (const rule of [...index.anyCallee, ...(index.byCallee.get(service) ?? [])]) {
    if (rule.sources.length === 0 || rule.sources.some((s) => namesCallee(s, namespace, service))) addRule(rule);
  }
  for (const destination of index.switchesTo.get(clusterName(namespace, service)) ?? []) addKeys(selectors, destinationKeys(destination));

  const route = rules.metadataRoutes.get(key);
  if (route) {
    if (route.mode === 'endpoint') return { selectors: [], keys: [], endpointMode: true };
    // The metadata router runs after the rule router and adds its keys to the rule's labels.
    const routeKeys = [...route.keys];
    for (const ruleKeys of [[], ...selectors.values()]) addKeys(selectors, [...new Set([...ruleKeys, ...routeKeys])].sort());
  }

  combineWithRouterKeys(selectors, routerKeys);
  return subsetMode(selectors);
}

/** Selectors in a stable order (stable bytes, stable versions), and every key they use. */
function subsetMode(selectors: ReadonlyMap<string, readonly string[]>): SubsetPolicy {
  const sorted = [...selectors.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, keys]) => keys);
  return { selectors: sorted, keys: [...new Set(sorted.flat())].sort(), endpointMode: false };
}

/**
 * Routers such as lanes add their keys to whatever the rules chose ({env} alone, or
 * {env, version}); every non-empty combination of router keys, alone and joined with
 * each rule key set, needs its own selector.
 */
function combineWithRouterKeys(selectors: Map<string, readonly string[]>, routerKeys: readonly string[]): void {
  const ruleSets = [[], ...selectors.values()];
  const unique = [...new Set(routerKeys)];
  for (let mask = 1; mask < 1 << unique.length; mask++) {
    const extra = unique.filter((_, i) => mask & (1 << i));
    for (const base of ruleSets) addKeys(selectors, [...new Set([...base, ...extra])].sort());
  }
}


/**
 * Which rules can matter to which callee, found in one pass over a rule snapshot: the
 * builder asks for every service, and scanning every rule for each of them cost
 * services × rules (50 ms of the event loop per rule change with 1,000 rules and 100 services).
 */
interface SelectorIndex {
  /** Outbound rules that may name any callee: without sources, or with a source for service '*'. */
  readonly anyCallee: readonly CompiledRule[];
  /** Outbound rules by the callee service their sources name (the namespace is checked per callee). */
  readonly byCallee: ReadonlyMap<string, readonly CompiledRule[]>;
  /** Cluster-switch destinations by the cluster they switch to. */
  readonly switchesTo: ReadonlyMap<string, readonly Destination[]>;
}

const indexes = new WeakMap<RuleSnapshot, SelectorIndex>();

function indexOf(rules: RuleSnapshot): SelectorIndex {
  let index = indexes.get(rules);
  if (!index) indexes.set(rules, (index = runToEnd(indexSteps(rules))));
  return index;
}

function* indexSteps(rules: RuleSnapshot): Steps<SelectorIndex> {
  const anyCallee: CompiledRule[] = [];
  const byCallee = new Map<string, CompiledRule[]>();
  const switchesTo = new Map<string, Destination[]>();
  for (const callerRules of rules.outbound.values()) {
    for (const rule of callerRules) {
      if (rule.sources.length === 0 || rule.sources.some((s) => s.service === '*')) anyCallee.push(rule);
      for (const service of new Set(rule.sources.map((s) => s.service))) if (service !== '*') push(byCallee, service, rule);
      yield;
    }
  }
  for (const ruleList of [...rules.inbound.values(), ...rules.outbound.values()]) {
    for (const rule of ruleList) {
      for (const destination of rule.destinations) if (destination.cluster) push(switchesTo, destination.cluster, destination);
      yield;
    }
  }
  return { anyCallee, byCallee, switchesTo };
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function namesCallee(source: CompiledSource, namespace: string, service: string): boolean {
  const serviceMatches = source.service === '*' || source.service === service;
  const namespaceMatches = source.namespace === '*' || source.namespace === '' || source.namespace === namespace;
  return serviceMatches && namespaceMatches;
}

function destinationKeys(destination: Destination): string[] {
  return Object.keys(destination.labels).sort();
}

function addKeys(selectors: Map<string, readonly string[]>, keys: readonly string[]): void {
  // A destination without labels means "all instances": no subset needed.
  if (keys.length === 0) return;
  selectors.set(keys.join('\u0000'), keys);
}
