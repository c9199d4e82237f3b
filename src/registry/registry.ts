import type { Instance } from '../model/instance';
import { clusterName, serviceKey } from '../model/instance';
import { DeadlineHeap } from './deadlines';
import { ServiceView, type RegistrySnapshot } from './service-view';

export type RegistryListener = (changedServices: ReadonlySet<string>) => void;

/** An ephemeral instance's liveness: a heartbeat moves `deadline`; the heap holds it once, at `queuedAt`. */
interface Lease {
  readonly view: ServiceView;
  readonly id: string;
  ttlMs: number;
  deadline: number;
  queuedAt: number;
  ended: boolean;
}

/** An expired instance the store has not yet deleted is reported again after this long. */
const EXPIRY_RETRY_MS = 1000;

/**
 * The live registry: one ServiceView per service, changed in place (each change costs what
 * it touches, not the size of its service), heartbeats as lease deadlines, and expiry from
 * a deadline heap (costs what expires). `snapshot()` is the same live object every time.
 */
export class Registry {
  private readonly services = new Map<string, ServiceView>();
  private readonly clusters = new Map<string, ServiceView>();
  private readonly leases = new Map<ServiceView, Map<string, Lease>>();
  private readonly deadlines = new DeadlineHeap<Lease>();
  private readonly listeners = new Set<RegistryListener>();
  private dirty = new Set<string>();
  private batchDepth = 0;
  private version = 0;
  private readonly live: RegistrySnapshot;

  constructor(private readonly now: () => number = Date.now) {
    const self = this;
    this.live = {
      get version() {
        return self.version;
      },
      services: this.services,
      clusters: this.clusters,
    };
  }

  upsert(instance: Instance): void {
    const view = this.viewFor(instance.namespace, instance.service);
    view.upsert(instance);
    this.lease(view, instance);
    this.touch(view);
  }

  /** Returns false when the instance was not registered. */
  remove(namespace: string, service: string, id: string): boolean {
    const view = this.services.get(serviceKey(namespace, service));
    if (!view || !view.remove(id)) return false;
    this.endLease(view, id);
    this.touch(view);
    return true;
  }

  /** Returns false for an unknown instance (the client must register again). O(1), no allocation. */
  heartbeat(namespace: string, service: string, id: string): boolean {
    const view = this.services.get(serviceKey(namespace, service));
    if (!view?.get(id)) return false;
    const lease = this.leases.get(view)?.get(id);
    if (lease) lease.deadline = this.now() + lease.ttlMs;
    return true;
  }

  get(namespace: string, service: string, id: string): Instance | undefined {
    return this.services.get(serviceKey(namespace, service))?.get(id);
  }

  /**
   * Up to `limit` ephemeral instances whose TTL passed without a heartbeat, earliest first.
   * Removing them is the caller's (through the store); one not removed is reported again
   * after a second. Costs the leases whose queued deadline passed, not every instance.
   */
  expired(limit = Infinity): Instance[] {
    const now = this.now();
    const expired: Instance[] = [];
    while (expired.length < limit && this.deadlines.peek() <= now) {
      const at = this.deadlines.peek();
      const lease = this.deadlines.pop()!;
      if (lease.ended || lease.queuedAt !== at) continue; // removed, or queued again elsewhere
      if (lease.deadline > now) {
        this.queue(lease, lease.deadline); // a heartbeat moved it on
        continue;
      }
      const instance = lease.view.get(lease.id);
      if (!instance) continue;
      expired.push(instance);
      this.queue(lease, now + EXPIRY_RETRY_MS);
    }
    return expired;
  }

  /** Whether a queued deadline has passed (expired() may find something). */
  hasExpired(): boolean {
    return this.deadlines.peek() <= this.now();
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

  private lease(view: ServiceView, instance: Instance): void {
    let leases = this.leases.get(view);
    const existing = leases?.get(instance.id);
    if (!instance.ephemeral) {
      if (existing) this.endLease(view, instance.id);
      return;
    }
    const ttlMs = instance.ttlSeconds * 1000;
    const deadline = this.now() + ttlMs;
    if (existing) {
      existing.ttlMs = ttlMs;
      existing.deadline = deadline;
      if (deadline < existing.queuedAt) this.queue(existing, deadline); // a shorter TTL: the queued entry would be late
      return;
    }
    if (!leases) this.leases.set(view, (leases = new Map()));
    const lease: Lease = { view, id: instance.id, ttlMs, deadline, queuedAt: deadline, ended: false };
    leases.set(instance.id, lease);
    this.deadlines.push(deadline, lease);
  }

  private queue(lease: Lease, at: number): void {
    lease.queuedAt = at;
    this.deadlines.push(at, lease);
  }

  private endLease(view: ServiceView, id: string): void {
    const leases = this.leases.get(view);
    const lease = leases?.get(id);
    if (!lease) return;
    lease.ended = true;
    leases!.delete(id);
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
