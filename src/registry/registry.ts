import type { Instance } from '../model/instance';
import { clusterName, serviceKey } from '../model/instance';
import { DeadlineWheel } from './deadlines';
import { ServiceView, type RegistrySnapshot } from './service-view';

export type RegistryListener = (changedServices: ReadonlySet<string>) => void;
/** One instance change, as it happens: `removed` and `added` are both set when an instance is replaced. */
export type InstanceListener = (view: ServiceView, removed: Instance | undefined, added: Instance | undefined) => void;

/** An expired instance the store has not yet deleted is reported again after this long. */
const EXPIRY_RETRY_MS = 1000;
/**
 * Deadlines are kept in this unit since the registry started: the deadline wheel keeps a bucket
 * per tick, keyed by small integers, and expiry needs no finer time.
 */
const TICK_MS = 100;

/**
 * The live registry: one ServiceView per service, changed in place (each change costs what
 * it touches, not the size of its service), heartbeats as lease deadlines, and expiry from
 * a bucket of deadlines per tick (costs what expires). `snapshot()` is the same live object every time.
 */
export class Registry {
  private readonly services = new Map<string, ServiceView>();
  private readonly clusters = new Map<string, ServiceView>();
  /** (deadline, service, id), one per lease: a popped entry whose lease moved on is queued again. */
  private readonly deadlines = new DeadlineWheel<ServiceView, string>();
  private readonly epoch: number;
  private readonly listeners = new Set<RegistryListener>();
  private readonly instanceListeners = new Set<InstanceListener>();
  /**
   * Instances `expired()` gave out, until the store's delete removes them: their lease is over, so
   * a heartbeat answers false (register again) instead of alive just before the delete lands. A
   * registration makes a new Instance, which is not in here.
   */
  private readonly expiring = new WeakSet<Instance>();
  private dirty = new Set<string>();
  private batchDepth = 0;
  private version = 0;
  private readonly live: RegistrySnapshot;

  /**
   * `now`: milliseconds since the epoch; by default from the monotonic clock (anchored at the
   * process start), so a wall-clock step cannot expire every lease at once. `expires: false` (an
   * ext_proc worker, whose primary expires instances through the store) queues no deadlines.
   */
  constructor(
    private readonly now: () => number = () => performance.timeOrigin + performance.now(),
    private readonly options: { readonly expires?: boolean } = {},
  ) {
    this.epoch = now();
    const self = this;
    this.live = {
      get version() {
        return self.version;
      },
      services: this.services,
      clusters: this.clusters,
    };
  }

  /** Adds or replaces an instance; returns the other instance of its service it displaced from its address, if any (`ServiceView.upsert`). */
  upsert(instance: Instance): Instance | undefined {
    const view = this.viewFor(instance.namespace, instance.service);
    const previous = this.instanceListeners.size === 0 ? undefined : view.get(instance.id);
    const displaced = view.upsert(instance);
    this.lease(view, instance);
    if (this.instanceListeners.size > 0) {
      if (displaced) this.tellInstance(view, displaced, undefined);
      this.tellInstance(view, previous, instance);
    }
    this.touch(view);
    return displaced;
  }

  /** The instance of a service registered at `host:port`, if any. */
  at(namespace: string, service: string, host: string, port: number): Instance | undefined {
    return this.services.get(serviceKey(namespace, service))?.at(host, port);
  }

  /** Returns false when the instance was not registered. */
  remove(namespace: string, service: string, id: string): boolean {
    const view = this.services.get(serviceKey(namespace, service));
    const previous = view?.get(id);
    if (!view || !previous) return false;
    view.remove(id);
    if (this.instanceListeners.size > 0) this.tellInstance(view, previous, undefined);
    this.touch(view);
    return true;
  }

  /** Returns false for an unknown or expired instance (the client must register again). O(1), no allocation. */
  heartbeat(namespace: string, service: string, id: string): boolean {
    const view = this.services.get(serviceKey(namespace, service));
    const instance = view?.get(id);
    if (!instance || this.expiring.has(instance)) return false;
    if (instance.ephemeral) view!.setDeadline(id, this.tick() + ttlTicks(instance));
    return true;
  }

  /** When an ephemeral instance last registered or heartbeated (ms since the epoch, to 100 ms); undefined for a persistent one. */
  lastHeartbeat(view: ServiceView, instance: Instance): number | undefined {
    const deadline = instance.ephemeral ? view.deadline(instance.id) : undefined;
    return deadline === undefined ? undefined : this.epoch + (deadline - ttlTicks(instance)) * TICK_MS;
  }

  get(namespace: string, service: string, id: string): Instance | undefined {
    return this.services.get(serviceKey(namespace, service))?.get(id);
  }

  /**
   * Up to `limit` ephemeral instances whose TTL passed without a heartbeat, earliest tick first;
   * heartbeats no longer keep them. Removing them is the caller's (through the store); one not
   * removed is reported again after a second. Costs the leases whose queued deadline passed, not every instance.
   * One `heardElsewhere` (another replica may hear its heartbeats, and expires it) is looked at
   * again a TTL later instead, and counts towards `limit`.
   */
  expired(limit = Infinity, heardElsewhere?: (instance: Instance) => boolean): Instance[] {
    const now = this.tick();
    const expired: Instance[] = [];
    let deferred = 0;
    for (let due; expired.length + deferred < limit && (due = this.deadlines.pop(now)); ) {
      const [view, id] = due;
      const deadline = view.deadline(id);
      if (deadline === undefined) continue; // removed, or no longer ephemeral
      if (deadline > now) {
        this.deadlines.push(deadline, view, id); // a heartbeat moved it on
        continue;
      }
      const instance = view.get(id)!;
      if (heardElsewhere?.(instance)) {
        deferred++;
        this.expiring.delete(instance); // a pass before may have found it expired
        view.setDeadline(id, now + ttlTicks(instance));
        this.deadlines.push(now + ttlTicks(instance), view, id);
        continue;
      }
      this.expiring.add(instance);
      expired.push(instance);
      view.setDeadline(id, now + Math.ceil(EXPIRY_RETRY_MS / TICK_MS));
      this.deadlines.push(now + Math.ceil(EXPIRY_RETRY_MS / TICK_MS), view, id);
    }
    return expired;
  }

  /** Whether a queued deadline has passed (expired() may find something). */
  hasExpired(): boolean {
    return this.deadlines.hasDue(this.tick());
  }

  /** Applies many changes and notifies listeners once. */
  batch(apply: () => void): void {
    this.batchDepth++;
    try {
      apply();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) this.publish();
    }
  }

  onChange(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Called synchronously for every instance added, replaced, displaced or removed, before the
   * change's `onChange`: for counts kept as the registry changes. Costs nothing while unused.
   */
  onInstanceChange(listener: InstanceListener): () => void {
    this.instanceListeners.add(listener);
    return () => this.instanceListeners.delete(listener);
  }

  /** The live registry (the same object every call): read it synchronously, within one turn. */
  snapshot(): RegistrySnapshot {
    return this.live;
  }

  private viewFor(namespace: string, name: string): ServiceView {
    const key = serviceKey(namespace, name);
    let view = this.services.get(key);
    if (!view) {
      view = new ServiceView(namespace, name);
      this.services.set(key, view);
      this.clusters.set(clusterName(namespace, name), view);
    }
    return view;
  }

  private tick(): number {
    return Math.floor((this.now() - this.epoch) / TICK_MS);
  }

  /**
   * Starts or renews the lease of an ephemeral instance. A renewal only moves the deadline (the
   * queued entry finds it when due), except when it comes earlier (a shorter TTL): then it is
   * queued again too, and the older entry, when due, finds the current deadline and is queued
   * again (a lease shortened once keeps two entries).
   */
  private lease(view: ServiceView, instance: Instance): void {
    if (!instance.ephemeral) {
      view.setDeadline(instance.id, undefined);
      return;
    }
    if (this.options.expires === false) return;
    const previous = view.deadline(instance.id);
    const deadline = this.tick() + ttlTicks(instance);
    view.setDeadline(instance.id, deadline);
    if (previous === undefined || deadline < previous) this.deadlines.push(deadline, view, instance.id);
  }

  private tellInstance(view: ServiceView, removed: Instance | undefined, added: Instance | undefined): void {
    for (const listener of this.instanceListeners) listener(view, removed, added);
  }

  private touch(view: ServiceView): void {
    this.version++;
    this.dirty.add(view.key);
    if (this.batchDepth === 0) this.publish();
  }

  private publish(): void {
    if (this.dirty.size === 0) return;
    const changed = this.dirty;
    this.dirty = new Set();
    for (const listener of this.listeners) listener(changed);
  }
}

function ttlTicks(instance: Instance): number {
  return Math.ceil((instance.ttlSeconds * 1000) / TICK_MS);
}
