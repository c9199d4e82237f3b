import type { Instance } from '../model/instance';
import { serviceKey } from '../model/instance';
import { ServiceView, type RegistrySnapshot } from './service-view';

export type RegistryListener = (changedServices: ReadonlySet<string>) => void;

interface ServiceState {
  readonly namespace: string;
  readonly name: string;
  readonly instances: Map<string, Instance>;
  version: number;
}

/**
 * The live registry: instances by service, heartbeats, expiry. Readers never see it
 * directly; they take `snapshot()`, which rebuilds only the services that changed.
 */
export class Registry {
  private readonly services = new Map<string, ServiceState>();
  private readonly lastSeen = new Map<string, number>();
  private readonly listeners = new Set<RegistryListener>();
  private dirty = new Set<string>();
  private batchDepth = 0;
  private current: RegistrySnapshot = { version: 0, services: new Map(), clusters: new Map() };
  private snapshotDirty = false;
  private version = 0;

  constructor(private readonly now: () => number = Date.now) {}

  upsert(instance: Instance): void {
    const state = this.stateFor(instance.namespace, instance.service);
    state.instances.set(instance.id, instance);
    this.lastSeen.set(instanceKey(instance.namespace, instance.service, instance.id), this.now());
    this.touch(state);
  }

  /** Returns false when the instance was not registered. */
  remove(namespace: string, service: string, id: string): boolean {
    const state = this.services.get(serviceKey(namespace, service));
    if (!state || !state.instances.delete(id)) return false;
    this.lastSeen.delete(instanceKey(namespace, service, id));
    this.touch(state);
    return true;
  }

  /** Returns false for an unknown instance (the client must register again). */
  heartbeat(namespace: string, service: string, id: string): boolean {
    const key = instanceKey(namespace, service, id);
    if (!this.services.get(serviceKey(namespace, service))?.instances.has(id)) return false;
    this.lastSeen.set(key, this.now());
    return true;
  }

  get(namespace: string, service: string, id: string): Instance | undefined {
    return this.services.get(serviceKey(namespace, service))?.instances.get(id);
  }

  /** Ephemeral instances whose TTL passed without a heartbeat. Removing them is the caller's (through the store). */
  expired(): Instance[] {
    const now = this.now();
    const expired: Instance[] = [];
    for (const state of this.services.values()) {
      for (const instance of state.instances.values()) {
        if (!instance.ephemeral) continue;
        const seen = this.lastSeen.get(instanceKey(instance.namespace, instance.service, instance.id)) ?? 0;
        if (now - seen > instance.ttlSeconds * 1000) expired.push(instance);
      }
    }
    return expired;
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

  snapshot(): RegistrySnapshot {
    if (!this.snapshotDirty) return this.current;
    const services = new Map(this.current.services);
    const clusters = new Map(this.current.clusters);
    for (const [key, state] of this.services) {
      const previous = services.get(key);
      if (previous && previous.version === state.version) continue;
      if (state.instances.size === 0 && !previous) continue;
      const view = new ServiceView(state.namespace, state.name, state.version, [...state.instances.values()]);
      services.set(key, view);
      clusters.set(view.cluster, view);
    }
    this.current = { version: this.version, services, clusters };
    this.snapshotDirty = false;
    return this.current;
  }

  private stateFor(namespace: string, name: string): ServiceState {
    const key = serviceKey(namespace, name);
    let state = this.services.get(key);
    if (!state) {
      state = { namespace, name, instances: new Map(), version: 0 };
      this.services.set(key, state);
    }
    return state;
  }

  private touch(state: ServiceState): void {
    state.version++;
    this.version++;
    this.snapshotDirty = true;
    this.dirty.add(serviceKey(state.namespace, state.name));
    if (this.batchDepth === 0) this.publish();
  }

  private publish(): void {
    if (this.dirty.size === 0) return;
    const changed = this.dirty;
    this.dirty = new Set();
    for (const listener of this.listeners) listener(changed);
  }
}

function instanceKey(namespace: string, service: string, id: string): string {
  return `${namespace}/${service}/${id}`;
}
