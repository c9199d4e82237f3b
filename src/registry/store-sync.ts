import type { Logger } from '../log/logger';
import type { Instance } from '../model/instance';
import type { Store, StoreEvent } from '../store/store';
import { parseInstance } from './instance-input';
import type { Registry } from './registry';

const PREFIX = 'instances/';

function keyOf(namespace: string, service: string, id: string): string {
  return `${PREFIX}${namespace}/${service}/${id}`;
}

/**
 * Keeps the registry equal to the store's `instances/` keys. Registrations are written
 * to the store and reach the registry through the watch, the same path another
 * replica's writes take. On the embedded store heartbeats stay in memory (they would
 * flood a durable log) and this replica expires instances; on a store with leases (etcd)
 * an ephemeral instance is bound to a lease that heartbeats renew, and the store expires it
 * for every replica at once.
 */
export class RegistryStoreSync {
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
    private readonly log: Logger,
    /** The TTL of a stored record that names none. */
    private readonly ttlSeconds: number,
  ) {}

  async start(): Promise<void> {
    const { entries, revision } = await this.store.list(PREFIX);
    this.registry.batch(() => {
      for (const entry of entries) this.apply({ type: 'put', key: entry.key, value: entry.value, revision });
    });
    this.unwatch = this.store.watch(PREFIX, revision, (event) => this.apply(event));
  }

  stop(): void {
    this.unwatch?.();
  }

  async register(instance: Instance): Promise<void> {
    const ttl = instance.ephemeral ? { ttlSeconds: instance.ttlSeconds } : {};
    await this.store.put(keyOf(instance.namespace, instance.service, instance.id), JSON.stringify(instance), ttl);
    this.log.info({ event: 'instance.registered', namespace: instance.namespace, service: instance.service, id: instance.id, address: `${instance.host}:${instance.port}`, ephemeral: instance.ephemeral }, 'instance registered');
  }

  /** Resolves false for an unknown instance (the client must register again). */
  async heartbeat(namespace: string, service: string, id: string): Promise<boolean> {
    if (!this.registry.heartbeat(namespace, service, id)) return false;
    return this.store.leases ? this.store.leases.refresh(keyOf(namespace, service, id)) : true;
  }

  async deregister(namespace: string, service: string, id: string): Promise<boolean> {
    const existed = await this.store.delete(keyOf(namespace, service, id));
    if (existed) this.log.info({ event: 'instance.deregistered', namespace, service, id }, 'instance deregistered');
    return existed;
  }

  /** Deletes expired ephemeral instances from the store; the watch then drops them from the registry, as for a deregistration. */
  async expire(): Promise<Instance[]> {
    if (this.store.leases) return []; // the store expires them
    const expired = this.registry.expired();
    await Promise.all(expired.map((i) => this.store.delete(keyOf(i.namespace, i.service, i.id)).then(() => this.log.info({ event: 'instance.expired', namespace: i.namespace, service: i.service, id: i.id, ttlSeconds: i.ttlSeconds }, 'instance expired: no heartbeat within its ttl'))));
    return expired;
  }

  private apply(event: StoreEvent): void {
    const [namespace, service, id] = event.key.slice(PREFIX.length).split('/');
    if (!namespace || !service || !id) return;
    if (event.type === 'delete') {
      this.registry.remove(namespace, service, id);
      return;
    }
    const parsed = parseInstance(JSON.parse(event.value!), { ttlSeconds: this.ttlSeconds }, event.key);
    if (parsed.ok) this.registry.upsert(parsed.instance);
    else this.log.error({ event: 'instance.refused', key: event.key, errors: parsed.errors }, 'ignoring an invalid stored instance');
  }
}
