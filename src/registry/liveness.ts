import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger';
import type { Instance, InstanceRef } from '../model/instance';
import type { Store, StoreEvent, StoreLeases, StorePut } from '../store/store';
import type { Registry } from './registry';

/** `liveness/<namespace>/<service>/<id>`: the replica that hears the instance's heartbeats, on that replica's leases. */
export const LIVENESS_PREFIX = 'liveness/';

export function livenessKey(ref: InstanceRef): string {
  return `${LIVENESS_PREFIX}${ref.namespace}/${ref.service}/${ref.id}`;
}

/**
 * Heartbeats on a store several replicas share (etcd), kept where they arrive. The replica an
 * ephemeral instance's heartbeats reach holds its liveness key on its own leases: it keeps the
 * deadline in memory, as on the embedded store, and expires the instance by deleting its record.
 * A heartbeat costs etcd nothing while it reaches the replica that holds the key; one reaching
 * another replica takes the key over (one write). The other replicas leave the instance to the
 * holder; one nobody holds (its holder stopped, or its key was never written) is expired by any
 * replica whose deadline for it passes. When the holder stops, etcd deletes its keys with its
 * lease, and every replica gives the instances those keys stood for a fresh TTL: the first to
 * hear one of them takes it over. While etcd is out, a heartbeat reaching another replica cannot
 * take the key over, so no replica expires an instance whose TTL overlapped the outage (as etcd
 * extends its leases when a new leader takes over). A record an older version bound to a lease
 * of its own is left to etcd to expire.
 */
export class HeardLiveness {
  /** Takeovers in flight, so a burst of heartbeats for one instance writes once. */
  private readonly taking = new Map<string, Promise<void>>();
  private unwatch: (() => void) | undefined;
  /** Written into each key for whoever reads etcd: which process hears the instance. */
  private readonly replica = `${hostname()} pid ${process.pid}`;

  constructor(
    private readonly store: Store,
    private readonly leases: StoreLeases,
    private readonly registry: Registry,
    private readonly log: Logger,
    /** The instance's record's key. */
    private readonly recordKey: (ref: InstanceRef) => string,
    /** After each takeover write: how many instances it took over. */
    private readonly onTakeovers: (count: number) => void = () => undefined,
  ) {}

  /** Follows the liveness keys' deletes after `revision` (the registry's load). */
  start(revision: number): void {
    this.unwatch = this.store.watch(LIVENESS_PREFIX, revision, (event) => this.onEvent(event));
  }

  stop(): void {
    this.unwatch?.();
  }

  /** The put that makes this replica the one that hears an instance it registers. */
  heardHere(ref: InstanceRef): StorePut {
    return { key: livenessKey(ref), value: this.replica, held: true };
  }

  /** After heartbeats the registry accepted: takes over those another replica (or none) holds; resolves once that is durable. */
  async heard(refs: readonly InstanceRef[]): Promise<void> {
    const puts: StorePut[] = [];
    const taken: InstanceRef[] = [];
    const waits: Promise<void>[] = [];
    for (const ref of refs) {
      const key = livenessKey(ref);
      const inFlight = this.taking.get(key);
      if (inFlight) waits.push(inFlight);
      else if (this.leases.holder(key) !== 'this replica') {
        puts.push(this.heardHere(ref));
        taken.push(ref);
      }
    }
    if (puts.length > 0) {
      const written = this.store.putAll(puts).finally(() => {
        for (const put of puts) if (this.taking.get(put.key) === written) this.taking.delete(put.key);
      });
      for (const put of puts) this.taking.set(put.key, written);
      waits.push(written.then(() => {
        this.onTakeovers(taken.length);
        // An instance removed while its key was written would leave the key behind.
        for (const ref of taken) if (!this.registry.get(ref.namespace, ref.service, ref.id)) this.release(ref);
      }));
    }
    await Promise.all(waits);
  }

  /**
   * For an expiry pass: whether an instance whose TTL passed here may have been heard elsewhere,
   * and is to be looked at again a TTL later instead of expired.
   */
  mayBeHeardElsewhere(): (instance: Instance) => boolean {
    const sinceOutage = performance.now() - this.leases.lastOutage();
    return (instance) =>
      sinceOutage < instance.ttlSeconds * 1000 ||
      this.leases.holder(livenessKey(instance)) === 'another replica' ||
      this.leases.holder(this.recordKey(instance)) === 'another replica'; // an older version's lease of its own
  }

  /** Deletes an expired instance's record (and its liveness key) unless another replica has taken it over; false if not deleted. */
  deleteRecord(instance: Instance): Promise<boolean> {
    return this.leases.deleteUnlessHeldElsewhere(this.recordKey(instance), livenessKey(instance));
  }

  /** The instance was removed or is persistent now: the key this replica holds for it goes. */
  release(ref: InstanceRef): void {
    const key = livenessKey(ref);
    if (this.leases.holder(key) !== 'this replica') return;
    this.leases.deleteUnlessHeldElsewhere(key, key).catch((error: unknown) => this.log.warn({ event: 'store.failed', key, err: error }, 'deleting the liveness key of a removed instance failed; it goes with this replica\'s leases'));
  }

  /** A key deleted with its holder's lease (or released): the instance, if still registered, gets a fresh TTL here. */
  private onEvent(event: StoreEvent): void {
    if (event.type !== 'delete') return;
    const [namespace, service, id] = event.key.slice(LIVENESS_PREFIX.length).split('/');
    if (namespace && service && id) this.registry.heartbeat(namespace, service, id);
  }
}
