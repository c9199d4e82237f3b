import type { Logger } from '../log/logger';
import { clusterName } from '../model/instance';
import type { RuleSnapshot } from '../model/rule';
import type { Steps } from '../model/slices';
import type { RegistrySnapshot, ServiceView } from '../registry/service-view';
import type { ResourceCache } from './cache';
import { encodeAny } from './codec';
import {
  CLUSTER_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  assignmentSteps,
  buildCluster,
  buildListener,
  buildRouteConfiguration,
} from './resources';
import { mergePolicies, NONE_HELD, policySteps, subsetPolicy, type SelectorBasis } from './selectors';
import { CDS, EDS, LDS, RDS, type Changes, type ResourceType } from './types';

/** Services synced between two yields of a pass: a changed one takes about 2 µs, a new one (three resources encoded and hashed) about 100. */
const SERVICES_PER_STEP = 8;

/** What the resources of one service were last built from, to rebuild only what changed. */
interface Built {
  readonly name: string;
  readonly view: ServiceView | undefined;
  /** The view changes in place: its version tells whether the endpoints changed. */
  readonly viewVersion: number;
  readonly rules: RuleSnapshot;
  readonly routerKeys: string;
  readonly held: readonly SelectorBasis[];
  /** Selector keys the CLA was built with (endpoints lacking one carry it as ""). */
  readonly selectorKeys: string;
  /** The subset policy the Cluster was built from: an equal one needs no new Cluster. */
  readonly policyId: string;
}

/**
 * Turns registry and rule snapshots into cached resources. A service has resources when it is
 * in the registry (even with no instances left) or a rule is attached to it as callee (inbound
 * rules, metadata route), so a proxy can know the cluster before the first instance registers.
 */
export class ResourceBuilder {
  private readonly built = new Map<string, Built>();

  constructor(
    private readonly cache: ResourceCache,
    private readonly log: Logger,
  ) {}

  /**
   * Rebuilds the given services (`'all'` after a rules change), a few per step; returns what
   * changed. `held`: rule sets and router keys whose selectors are served beside the current
   * ones while a change rolls out (make-before-break, see app/rollout.ts). In steps: one
   * registration batch over thousands of services (each its own cluster) held the loop 10-15 ms
   * for the pass over 5,000 changed ones, and 300-800 ms for 2,000 new ones (a Cluster, Listener
   * and Route encoded and hashed each). Changes reach the cache as each service is synced, so a
   * stream answering meanwhile sends some already.
   */
  *buildSteps(registry: RegistrySnapshot, rules: RuleSnapshot, routerKeys: readonly string[], changed: ReadonlySet<string> | 'all', held: readonly SelectorBasis[] = NONE_HELD): Steps<Changes> {
    const changes = new Map<ResourceType, Set<string>>();
    const keys = changed === 'all' ? this.allKeys(registry, rules) : changed;
    const failed: { key: string; err: unknown }[] = [];
    let inStep = 0;
    for (const key of keys) {
      try {
        this.sync(key, registry, rules, routerKeys, held, changes);
      } catch (err) {
        // One service's failure loses neither the changes synced before it (they are in the cache
        // already, and `built` says so: no later pass would name them) nor the services after it.
        // Its `built` entry is left as it was, so the next pass over it tries again.
        failed.push({ key, err });
      }
      if (++inStep === SERVICES_PER_STEP) {
        inStep = 0;
        yield;
      }
    }
    if (failed.length > 0) {
      this.log.error({ event: 'xds.rebuild.failed', services: failed.length, examples: failed.slice(0, 5).map((f) => f.key), err: failed[0]!.err }, 'xds: rebuilding the resources of some services failed; they keep their previous ones');
    }
    return changes;
  }

  /**
   * Computes, a service per step, the subset policies a build of every service with `bases`
   * (the rules in force and held ones) will ask for, so that build finds them ready.
   */
  *policySteps(registry: RegistrySnapshot, bases: readonly SelectorBasis[]): Steps<void> {
    for (const basis of bases) yield* policySteps(basis, this.allKeys(registry, basis.rules));
  }

  /** The services a build of `'all'` visits: those built before, registered ones, and those the rules name as callee. */
  private allKeys(registry: RegistrySnapshot, rules: RuleSnapshot): Set<string> {
    return new Set([...this.built.keys(), ...registry.services.keys(), ...rules.inbound.keys(), ...rules.metadataRoutes.keys()]);
  }

  private sync(key: string, registry: RegistrySnapshot, rules: RuleSnapshot, routerKeys: readonly string[], held: readonly SelectorBasis[], changes: Map<ResourceType, Set<string>>): void {
    const view = registry.services.get(key);
    const previous = this.built.get(key);
    const identity = view ?? ruleIdentity(rules, key);
    if (!identity) {
      if (!previous) return;
      for (const type of [CDS, EDS, LDS, RDS]) this.remove(type, previous.name, changes);
      this.built.delete(key);
      return;
    }
    const name = clusterName(identity.namespace, identity.name);
    const routerKeysId = routerKeys.join('\u0000');
    let selectorKeys = previous?.selectorKeys ?? '';
    let keyList = selectorKeys ? selectorKeys.split('\u0000') : [];
    let policyId = previous?.policyId ?? '';
    if (!previous || previous.rules !== rules || previous.routerKeys !== routerKeysId || previous.held !== held) {
      const policy = mergePolicies([subsetPolicy(rules, key, routerKeys), ...held.map((h) => subsetPolicy(h.rules, key, h.routerKeys))]);
      keyList = [...policy.keys];
      selectorKeys = keyList.join('\u0000');
      // Most clusters keep their selectors across a rule change: building and encoding their Cluster again would only find the same bytes.
      const id = `${policy.endpointMode}${policy.switching ? '+switching' : ''}\u0001${policy.selectors.map((k) => k.join('\u0000')).join('\u0001')}`;
      if (!previous || id !== policyId || previous.name !== name) this.put(CDS, name, CLUSTER_TYPE, buildCluster(name, policy), changes);
      policyId = id;
    }
    if (!previous || previous.view !== view || previous.viewVersion !== view?.version || previous.selectorKeys !== selectorKeys) {
      // Built when a stream first reads it: no subscriber, no work. The registry is live, so the
      // view is looked up then: a service that gained its first instance since is served with it.
      const log = this.log;
      this.cache.putLazy(EDS, name, function* () {
        const { any, skipped } = yield* assignmentSteps(name, registry.services.get(key)?.instances ?? [], keyList);
        if (skipped.length > 0) log.warn({ event: 'xds.endpoints.skipped', cluster: name, count: skipped.length, examples: skipped.slice(0, 5) }, 'xds: endpoints left out');
        return any;
      });
      note(changes, EDS, name);
    }
    if (!previous) {
      this.put(LDS, name, LISTENER_TYPE, buildListener(name), changes);
      this.put(RDS, name, ROUTE_TYPE, buildRouteConfiguration(name), changes);
    }
    this.built.set(key, { name, view, viewVersion: view?.version ?? -1, rules, routerKeys: routerKeysId, held, selectorKeys, policyId });
  }

  private put(type: ResourceType, name: string, typeName: string, message: object, changes: Map<ResourceType, Set<string>>): void {
    if (this.cache.put(type, name, encodeAny(typeName, message))) note(changes, type, name);
  }

  private remove(type: ResourceType, name: string, changes: Map<ResourceType, Set<string>>): void {
    if (this.cache.remove(type, name)) note(changes, type, name);
  }
}

function ruleIdentity(rules: RuleSnapshot, key: string): { namespace: string; name: string } | undefined {
  const rule = rules.inbound.get(key)?.[0];
  if (rule) return { namespace: rule.namespace, name: rule.service };
  const route = rules.metadataRoutes.get(key);
  return route && { namespace: route.namespace, name: route.service };
}

function note(changes: Map<ResourceType, Set<string>>, type: ResourceType, name: string): void {
  let names = changes.get(type);
  if (!names) changes.set(type, (names = new Set()));
  names.add(name);
}
