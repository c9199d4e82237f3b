import type { Instance, Labels } from '../model/instance';
import { clusterName, endpointAddress, hasLabels, LOCALITY_LABELS, serviceKey } from '../model/instance';

/** The instances of a subset and how many of them are healthy. */
export interface Subset {
  readonly instances: readonly Instance[];
  readonly healthy: number;
}

const EMPTY_SUBSET: Subset = { instances: [], healthy: 0 };
/** Request-supplied values (user ids, lanes) make the memo grow; past this size it starts over. */
const MAX_MEMOISED_SUBSETS = 10000;

/** Label keys are validated (no control characters), so the separator cannot occur in one. */
function postingKey(key: string, value: string): string {
  return `${key}\u0000${value}`;
}

/** Canonical, order-independent key of a label set; JSON, because values come from requests and may hold any character. */
export function labelSetKey(labels: Labels): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

const healthyLists = new WeakMap<Subset, readonly string[]>();
const allLists = new WeakMap<Subset, readonly string[]>();

/** Healthy `ip:port`s of a subset, computed once per (immutable) subset. */
export function healthyEndpoints(subset: Subset): readonly string[] {
  return endpointList(healthyLists, subset, (i) => i.healthy);
}

/** Every `ip:port` of a subset, unhealthy ones included; once per subset. */
export function allEndpoints(subset: Subset): readonly string[] {
  return endpointList(allLists, subset, () => true);
}

function endpointList(cache: WeakMap<Subset, readonly string[]>, subset: Subset, keep: (i: Instance) => boolean): readonly string[] {
  let list = cache.get(subset);
  if (!list) {
    list = subset.instances.filter(keep).map(endpointAddress);
    cache.set(subset, list);
  }
  return list;
}

export function countHealthy(instances: readonly Instance[]): number {
  let n = 0;
  for (const i of instances) if (i.healthy) n++;
  return n;
}

/**
 * One service's instances at one version, with a label index. `subset()` answers
 * "which instances carry these labels, and how many are healthy" by intersecting the
 * shortest posting list, and memoises the answer: the view is immutable, so a decision
 * repeated by many requests costs one map lookup.
 */
export class ServiceView {
  readonly key: string;
  readonly cluster: string;
  readonly healthy: number;
  /** The whole service as a Subset; one object, so identity comparisons hold. */
  readonly all: Subset;
  private readonly postings = new Map<string, Instance[]>();
  private readonly subsets = new Map<string, Subset>();
  /** Rule destinations keep one Labels object per snapshot: look those up by identity, no key building. */
  private readonly subsetsByObject = new WeakMap<Labels, Subset>();

  constructor(
    readonly namespace: string,
    readonly name: string,
    /** Bumped on every change of this service only (per-resource xDS versions). */
    readonly version: number,
    readonly instances: readonly Instance[],
  ) {
    this.key = serviceKey(namespace, name);
    this.cluster = clusterName(namespace, name);
    this.healthy = countHealthy(instances);
    this.all = { instances, healthy: this.healthy };
    for (const instance of instances) {
      for (const [k, v] of Object.entries(instance.metadata)) push(this.postings, postingKey(k, v), instance);
      for (const [field, key] of Object.entries(LOCALITY_LABELS)) {
        const value = instance.locality[field as keyof typeof LOCALITY_LABELS];
        if (value) push(this.postings, postingKey(key, value), instance);
      }
    }
  }

  /**
   * Instances whose metadata matches every label of `labels`. The empty value means
   * "lacks this key" (metadata failover `others`, lane baselines); xDS writes the same
   * empty value into `envoy.lb` for selector keys an endpoint lacks, so Envoy agrees.
   */
  subset(labels: Labels): Subset {
    const byObject = this.subsetsByObject.get(labels);
    if (byObject) return byObject;
    const cacheKey = labelSetKey(labels);
    let result = this.subsets.get(cacheKey);
    if (!result) {
      result = this.computeSubset(labels);
      if (this.subsets.size >= MAX_MEMOISED_SUBSETS) this.subsets.clear();
      this.subsets.set(cacheKey, result);
    }
    this.subsetsByObject.set(labels, result);
    return result;
  }

  private computeSubset(labels: Labels): Subset {
    const entries = Object.entries(labels);
    if (entries.length === 0) return this.all;
    let from: readonly Instance[] = this.instances;
    for (const [k, v] of entries) {
      if (v === '') continue;
      const list = this.postings.get(postingKey(k, v));
      if (!list) return EMPTY_SUBSET;
      if (from === this.instances || list.length < from.length) from = list;
    }
    const instances = from.filter((i) => hasLabels(i, labels));
    return instances.length === 0 ? EMPTY_SUBSET : { instances, healthy: countHealthy(instances) };
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The whole registry at one version: immutable, swapped atomically. */
export interface RegistrySnapshot {
  readonly version: number;
  /** By serviceKey. */
  readonly services: ReadonlyMap<string, ServiceView>;
  /** By cluster name (`<service>.<namespace>`). */
  readonly clusters: ReadonlyMap<string, ServiceView>;
}
