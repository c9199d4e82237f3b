import type { Instance, Labels } from '../model/instance';
import { clusterName, endpointAddress, hasLabels, LOCALITY_LABELS, serves, serviceKey } from '../model/instance';
import { ShardedMap } from '../model/sharded-map';
import { MemberSet, Roster, type Subset } from './member-set';

export { countHealthy, fixedSubset, type Subset } from './member-set';

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

/** Calls `fn` with each label of an instance: its metadata, and its locality as reserved labels. */
function forLabels(instance: Instance, fn: (key: string, value: string) => void): void {
  for (const k in instance.metadata) fn(k, instance.metadata[k]!);
  for (const field in LOCALITY_LABELS) {
    const value = instance.locality[field as keyof typeof LOCALITY_LABELS];
    if (value) fn(LOCALITY_LABELS[field as keyof typeof LOCALITY_LABELS], value);
  }
}

/** Whether two instances carry the same labels (as `forLabels` calls them). */
function sameLabels(a: Instance, b: Instance): boolean {
  if (a.metadata !== b.metadata) {
    let keys = 0;
    for (const k in a.metadata) {
      if (b.metadata[k] !== a.metadata[k]) return false;
      keys++;
    }
    for (const _ in b.metadata) keys--;
    if (keys !== 0) return false;
  }
  for (const field in LOCALITY_LABELS) {
    const f = field as keyof typeof LOCALITY_LABELS;
    if ((a.locality[f] || '') !== (b.locality[f] || '')) return false;
  }
  return true;
}

function sameAddress(a: Instance, b: Instance): boolean {
  return a.host === b.host && a.port === b.port;
}

/** label value → instances carrying it; a value only one instance has (a user id) holds it directly, not a set. */
type Postings = ShardedMap<Instance | MemberSet>;

function pair(a: Instance, b: Instance): MemberSet {
  const set = new MemberSet();
  set.add(a);
  set.add(b);
  return set;
}

const healthyLists = new WeakMap<Subset, { version: number; list: readonly string[] }>();
const allLists = new WeakMap<Subset, { version: number; list: readonly string[] }>();
/** Each endpoint list's running sum of its instances' weights, for `pickEndpoint`. */
const listWeights = new WeakMap<readonly string[], Float64Array>();

/** `ip:port`s of a subset's instances that take traffic (`serves`), computed once per subset version. */
export function healthyEndpoints(subset: Subset): readonly string[] {
  return endpointList(healthyLists, subset, serves);
}

/** Every `ip:port` of a subset, unhealthy ones included; once per subset version. */
export function allEndpoints(subset: Subset): readonly string[] {
  return endpointList(allLists, subset, () => true);
}

/**
 * Which of a `healthyEndpoints` / `allEndpoints` list serves one request: at random, in
 * proportion to the instances' weights (all alike when every weight is 0), as Envoy's own
 * balancers would. Envoy's override_host takes the list in order, so without a pick the first
 * instance would take every request.
 */
export function pickEndpoint(list: readonly string[]): number {
  const sums = listWeights.get(list);
  if (!sums || list.length < 2) return 0;
  const total = sums[sums.length - 1]!;
  if (total === 0) return Math.floor(Math.random() * list.length);
  const target = Math.random() * total;
  let low = 0;
  let high = sums.length - 1;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sums[mid]! > target) high = mid;
    else low = mid + 1;
  }
  return low;
}

function endpointList(cache: WeakMap<Subset, { version: number; list: readonly string[] }>, subset: Subset, keep: (i: Instance) => boolean): readonly string[] {
  let cached = cache.get(subset);
  if (cached?.version !== subset.version) {
    const kept = subset.instances.filter(keep);
    const sums = new Float64Array(kept.length);
    let sum = 0;
    kept.forEach((instance, i) => (sums[i] = sum += instance.weight));
    cached = { version: subset.version, list: kept.map(endpointAddress) };
    listWeights.set(cached.list, sums);
    cache.set(subset, cached);
  }
  return cached.list;
}

/** A memoised subset and the label set it answers. */
interface Memo {
  readonly labels: Labels;
  readonly members: MemberSet;
}

/**
 * One service's instances with a label index, kept up to date in place: a registration,
 * re-registration or removal touches the instance's own posting lists and the memoised
 * subsets it belongs to (found through their anchor label, never by a scan), so its cost
 * does not grow with the service. `subset(labels)` answers "which instances carry these
 * labels, and how many are healthy": the first time by intersecting the shortest posting
 * list, then from the memo, which stays live. Reading is synchronous: one request's
 * routing sees one state, because changes are applied between event-loop turns.
 */
export class ServiceView {
  readonly key: string;
  readonly cluster: string;
  /** The whole service as a Subset (one object, so identity comparisons hold), by id, with lease deadlines. */
  readonly all = new Roster();
  /** Bumped on every change of this service only (per-resource xDS versions). */
  version = 0;
  /**
   * label key → value → instances: two levels, so a posting costs a Map entry keyed by the
   * instance's own value string (a `key=value` string per label and instance cost 32+ bytes more).
   */
  private readonly postings = new Map<string, Postings>();
  private memos = new Map<string, Memo>();
  /** A forgetting of every memo is queued (see `subset`). */
  private forgetting = false;
  /** Memos by the posting key of one of their labels: only an instance with that label can change them. */
  private anchored = new Map<string, Memo[]>();
  /** Memos whose labels are all "lacks this key" (`''`): any instance may change them. */
  private unanchored: Memo[] = [];
  /** Posting sets that are also memoised subsets: they stay sets while a memo may read them. */
  private readonly shared = new WeakSet<MemberSet>();
  /** Rule destinations keep one Labels object per snapshot: look those up by identity, no key building. */
  private byObject = new WeakMap<Labels, MemberSet>();
  /**
   * host → the instance at each of its ports (one port: the instance itself, no inner Map), so
   * that an address holds one instance: keyed by the instance's own host string, no new string.
   */
  private readonly byAddress = new ShardedMap<Instance | Map<number, Instance>>();

  constructor(
    readonly namespace: string,
    readonly name: string,
  ) {
    this.key = serviceKey(namespace, name);
    this.cluster = clusterName(namespace, name);
  }

  get instances(): readonly Instance[] {
    return this.all.instances;
  }

  get healthy(): number {
    return this.all.healthy;
  }

  get(id: string): Instance | undefined {
    return this.all.get(id);
  }

  /** The instance registered at `host:port`, if any. */
  at(host: string, port: number): Instance | undefined {
    const held = this.byAddress.get(host);
    return held instanceof Map ? held.get(port) : held?.port === port ? held : undefined;
  }

  /**
   * Adds or replaces an instance (by id); a replaced one keeps its lease deadline. Another
   * instance at the same address is removed and returned: one process listens at an address,
   * and Envoy takes one endpoint per address, so the latest registration there is the one kept.
   */
  upsert(instance: Instance): Instance | undefined {
    const previous = this.all.get(instance.id);
    if (previous && this.at(previous.host, previous.port) === previous && sameAddress(previous, instance) && sameLabels(previous, instance)) {
      this.replaceInPlace(instance);
      return undefined;
    }
    const holder = this.at(instance.host, instance.port);
    const displaced = holder && holder.id !== instance.id ? holder : undefined;
    if (displaced) this.remove(displaced.id);
    if (previous) {
      this.unindex(previous);
      this.forgetAddress(previous);
      this.all.replace(instance);
    } else {
      this.all.add(instance);
    }
    this.holdAddress(instance);
    forLabels(instance, (key, value) => {
      let values = this.postings.get(key);
      if (!values) this.postings.set(key, (values = new ShardedMap()));
      const list = values.get(value);
      if (!list) values.set(value, instance);
      else if (list instanceof MemberSet) list.add(instance);
      else values.set(value, pair(list, instance));
    });
    this.forMemos(instance, (memo) => memo.members.add(instance));
    this.version++;
    return displaced;
  }

  /**
   * A re-registration with the same labels and address (a restart, a health or weight change):
   * every set keeps its entry and takes the new object, so no Map of the service gets a
   * deleted entry (V8 copies a whole Map in one step once they fill its spare room).
   */
  private replaceInPlace(instance: Instance): void {
    this.all.replace(instance);
    forLabels(instance, (key, value) => {
      const values = this.postings.get(key)!;
      const list = values.get(value)!;
      if (list instanceof MemberSet) list.replace(instance);
      else values.set(value, instance);
    });
    this.forMemos(instance, (memo) => memo.members.replace(instance));
    this.holdAddress(instance);
    this.version++;
  }

  /** Returns false when the instance was not there. */
  remove(id: string): boolean {
    const previous = this.all.get(id);
    if (!previous) return false;
    this.unindex(previous);
    this.forgetAddress(previous);
    this.all.remove(id);
    this.version++;
    return true;
  }

  private holdAddress(instance: Instance): void {
    const held = this.byAddress.get(instance.host);
    if (held === undefined || (!(held instanceof Map) && held.port === instance.port)) this.byAddress.set(instance.host, instance);
    else if (held instanceof Map) held.set(instance.port, instance);
    else this.byAddress.set(instance.host, new Map([[held.port, held], [instance.port, instance]]));
  }

  /** Drops an instance's address entry, if the address is still its own. */
  private forgetAddress(instance: Instance): void {
    const held = this.byAddress.get(instance.host);
    if (held === instance) this.byAddress.delete(instance.host);
    else if (held instanceof Map && held.get(instance.port) === instance) {
      held.delete(instance.port);
      if (held.size === 1) this.byAddress.set(instance.host, held.values().next().value!);
    }
  }

  /** An instance's lease deadline (the registry's units), undefined without one. */
  deadline(id: string): number | undefined {
    return this.all.deadline(id);
  }

  setDeadline(id: string, deadline: number | undefined): void {
    this.all.setDeadline(id, deadline);
  }

  /**
   * Instances whose metadata matches every label of `labels`. The empty value means
   * "lacks this key" (metadata failover `others`, lane baselines); xDS writes the same
   * empty value into `envoy.lb` for selector keys an endpoint lacks, so Envoy agrees.
   */
  subset(labels: Labels): Subset {
    if (!hasKeys(labels)) return this.all;
    const byObject = this.byObject.get(labels);
    if (byObject) return byObject;
    const cacheKey = labelSetKey(labels);
    let memo = this.memos.get(cacheKey);
    if (!memo) {
      if (this.memos.size >= MAX_MEMOISED_SUBSETS && !this.forgetting) {
        // Once the decision asking is done: it compares subsets by identity (`candidates ===
        // service.subset(labels)`), and a memo forgotten in between would answer another object.
        this.forgetting = true;
        queueMicrotask(() => this.forgetMemos());
      }
      memo = this.memoise(labels);
      this.memos.set(cacheKey, memo);
    }
    this.byObject.set(labels, memo.members);
    return memo.members;
  }

  /** The instances carrying the label `key` = `value` (a locality label too), from its posting: no subset is memoised. */
  withLabel(key: string, value: string): readonly Instance[] {
    const list = this.postings.get(key)?.get(value);
    return postingList(list);
  }

  /** Each value of the label `key` the service's instances carry, with those instances (its posting). */
  *labelValues(key: string): IterableIterator<[string, readonly Instance[]]> {
    const values = this.postings.get(key);
    if (values) for (const [value, list] of values.entries()) yield [value, postingList(list)];
  }

  /** Takes an instance out of its postings and memos (not out of `all`). */
  private unindex(instance: Instance): void {
    forLabels(instance, (key, value) => {
      const values = this.postings.get(key);
      const list = values?.get(value);
      if (list instanceof MemberSet) {
        list.remove(instance.id);
        // A posting that is a memo's subset stays a set (the memo reads it), even when empty.
        if (list.instances.length === 1 && !this.shared.has(list)) values!.set(value, list.instances[0]!);
      } else if (list?.id === instance.id) {
        values!.delete(value);
        if (values!.size === 0) this.postings.delete(key);
      }
    });
    this.forMemos(instance, (memo) => memo.members.remove(instance.id));
  }

  /** Calls `fn` for every memo whose labels `instance` carries. */
  private forMemos(instance: Instance, fn: (memo: Memo) => void): void {
    for (const memo of this.unanchored) if (hasLabels(instance, memo.labels)) fn(memo);
    if (this.anchored.size === 0) return;
    forLabels(instance, (key, value) => {
      const memos = this.anchored.get(postingKey(key, value));
      if (memos) for (const memo of memos) if (hasLabels(instance, memo.labels)) fn(memo);
    });
  }

  /**
   * Computes a subset by scanning its shortest posting list and files it under that list's key.
   * A single label's subset is its posting list itself when that is a set: kept up to date
   * with the postings, no second copy (the bench's `version` split halves a million instances).
   */
  private memoise(labels: Labels): Memo {
    const only = singleLabel(labels);
    const posting = only && this.postings.get(only[0])?.get(only[1]);
    if (posting instanceof MemberSet) {
      this.shared.add(posting);
      return { labels, members: posting };
    }
    const members = new MemberSet();
    const memo: Memo = { labels, members };
    let anchor: string | undefined;
    let from: Iterable<Instance> = this.all.instances;
    let shortest = Infinity;
    let empty = false;
    for (const k in labels) {
      const v = labels[k]!;
      if (v === '') continue;
      const key = postingKey(k, v);
      const list = this.postings.get(k)?.get(v);
      const size = list === undefined ? 0 : list instanceof MemberSet ? list.instances.length : 1;
      if (size < shortest) {
        shortest = size;
        anchor = key;
        from = postingList(list);
        empty = size === 0;
      }
    }
    if (!empty) for (const instance of from) if (hasLabels(instance, labels)) members.add(instance);
    if (anchor === undefined) this.unanchored.push(memo);
    else {
      const memos = this.anchored.get(anchor);
      if (memos) memos.push(memo);
      else this.anchored.set(anchor, [memo]);
    }
    return memo;
  }

  private forgetMemos(): void {
    this.forgetting = false;
    this.memos = new Map();
    this.anchored = new Map();
    this.unanchored = [];
    this.byObject = new WeakMap();
  }
}

/** A posting's instances: one instance is held alone, more in a MemberSet. */
function postingList(list: Instance | MemberSet | undefined): readonly Instance[] {
  return list === undefined ? [] : list instanceof MemberSet ? list.instances : [list];
}

/** The one label of `labels` when it has exactly one, with a value (not "lacks this key"). */
function singleLabel(labels: Labels): [string, string] | undefined {
  let only: [string, string] | undefined;
  for (const k in labels) {
    if (only || labels[k] === '') return undefined;
    only = [k, labels[k]!];
  }
  return only;
}

function hasKeys(labels: Labels): boolean {
  for (const _ in labels) return true;
  return false;
}

/** The whole registry: live views, changed in place between event-loop turns. */
export interface RegistrySnapshot {
  /** Bumped on every change. */
  readonly version: number;
  /** By serviceKey. */
  readonly services: ReadonlyMap<string, ServiceView>;
  /** By cluster name (`<service>.<namespace>`). */
  readonly clusters: ReadonlyMap<string, ServiceView>;
}
