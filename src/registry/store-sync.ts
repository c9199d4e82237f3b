import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger';
import { serviceKey, type Instance, type InstanceRef } from '../model/instance';
import { awaitedLater, yieldTurn } from '../model/slices';
import type { Store, StoreEvent, StorePut } from '../store/store';
import { parseInstance, type InstanceParse } from './instance-input';
import { HeardLiveness } from './liveness';
import type { Registry } from './registry';

/** Where instances are stored: `instances/<namespace>/<service>/<id>`. */
export const INSTANCES_PREFIX = 'instances/';
/**
 * Store events applied per event-loop turn are cut off after this long, so a burst never blocks
 * ext_proc answers. 1 ms, as model/slices.ts: with 4, churn's max event-loop delay at 100,000 was
 * 6.9-8.5 ms against 5.1-6.6 (run medians), loading 100,000 by batch 10-20% faster.
 */
const SLICE_MS = 1;
/**
 * Expired instances deleted per expiry pass: 10,000 expiring at once are spread over passes.
 * A pass of 500 (its deletes, their log lines, and the group commit that encodes them) held the
 * event loop 11-30 ms; 100 keeps it under 10 (bench/registry/run.js, alternated).
 */
const EXPIRE_PER_PASS = 100;
/** A batch's writes are handed to the store this many per event-loop turn (each group commit then stays short). */
const WRITES_PER_TURN = 500;
/** Services a batch's log line names (`instances.batch`); `servicesOmitted` counts the rest. */
const BATCH_LOG_SERVICES = 10;

function keyOf(namespace: string, service: string, id: string): string {
  return `${INSTANCES_PREFIX}${namespace}/${service}/${id}`;
}

/** A registration this replica wrote, already validated: its watch event need not be parsed again. */
interface OwnWrite extends StorePut {
  readonly instance: Instance;
}

/**
 * Keeps the registry equal to the store's `instances/` keys. Registrations are written
 * to the store and reach the registry through the watch, the same path another
 * replica's writes take. Watch events are queued and applied in time slices (a batch of
 * thousands never blocks the event loop for long); a write resolves once its event is
 * applied, so a caller reads its own write. Heartbeats stay in memory (they would flood a
 * durable log) and this replica expires instances by deleting their records; on a store several
 * replicas share (etcd), the replica that hears an instance's heartbeats does (`HeardLiveness`).
 */
export class RegistryStoreSync {
  private unwatch: (() => void) | undefined;
  private readonly pending: StoreEvent[] = [];
  private next = 0;
  /** Events applied so far; a waiter wants `count` of them. */
  private appliedCount = 0;
  private queuedCount = 0;
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  private scheduled = false;
  /**
   * Our own writes in flight by key, oldest first, already validated: their watch event need not
   * be parsed again, and it displaces as ours (the displaced record is deleted). Two writes of one
   * key in flight at once both stay, so the first event is not taken for another writer's.
   */
  private readonly written = new Map<string, OwnWrite[]>();
  /** Keys this replica is deleting (deregistrations, expiries), to tell them from another replica's deletes. */
  private readonly deregistering = new Set<string>();
  /** Ephemeral records the first load refused: see `dropAtLoad`. */
  private refusedAtLoad: string[] = [];
  /**
   * On an ext_proc worker: per instance its first load kept at an address another record also
   * held (by key), the one it left out. Its mirror has no write order, so it may keep the record
   * the primary is deleting (a snapshot taken while a displacement's delete was on its way): when
   * that delete comes, the other comes back. An event of the left-out one's own key settles it.
   */
  private readonly leftOutAtLoad = new Map<string, { key: string; instance: Instance }>();
  /** Records the first load found displaced at their address, with the value stored: see `dropAtLoad`. */
  private displacedAtLoad: Array<{ key: string; value: string; displaced: Instance; by: Instance }> = [];
  /** On a store with leases, in the process that owns it. */
  private readonly liveness: HeardLiveness | undefined;
  /** The configuration file's static instances by service and id: never stored, so one a registration displaced is put back. */
  private readonly configuredById = new Map<string, Instance>();
  /** The same by service and `host:port`. */
  private readonly configuredAt = new Map<string, Instance>();

  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
    private readonly log: Logger,
    /** The TTL of a stored record that names none. */
    private readonly ttlSeconds: number,
    /**
     * This process owns the store (not an ext_proc worker, whose store is a read-only mirror):
     * it keeps what the first load left out for `dropAtLoad`.
     */
    private readonly ownsStore = true,
    /** `registry.instances` of the configuration file: loaded first, and back whenever their address (and id) is free again. */
    private readonly configuredInstances: readonly Instance[] = [],
    /** On a store with leases: after heartbeats here took instances over from another replica (or none). */
    onTakeovers?: (count: number) => void,
  ) {
    this.liveness = store.leases && ownsStore ? new HeardLiveness(store, store.leases, registry, log, (ref) => keyOf(ref.namespace, ref.service, ref.id), onTakeovers) : undefined;
    for (const instance of configuredInstances) {
      this.configuredById.set(configuredKey(instance, instance.id), instance);
      this.configuredAt.set(configuredKey(instance, `${instance.host}:${instance.port}`), instance);
    }
  }

  async start(): Promise<void> {
    const { entries, revision } = await this.store.list(INSTANCES_PREFIX);
    this.registry.batch(() => {
      for (const instance of this.configuredInstances) this.registry.upsert(instance);
      for (const entry of entries) this.apply({ type: 'put', key: entry.key, value: entry.value, revision }, true);
    });
    if (this.displacedAtLoad.length > 0) {
      const displaced = new Map(this.displacedAtLoad.map((d) => [d.key, d]));
      for (const entry of entries) if (displaced.has(entry.key)) displaced.get(entry.key)!.value = entry.value;
    }
    this.unwatch = this.store.watch(INSTANCES_PREFIX, revision, (event) => this.enqueue(event));
    this.liveness?.start(revision);
  }

  stop(): void {
    this.unwatch?.();
    this.liveness?.stop();
  }

  async register(instance: Instance): Promise<void> {
    await this.write([instance]);
    await this.applied();
    this.log.info({ event: 'instance.registered', namespace: instance.namespace, service: instance.service, id: instance.id, address: `${instance.host}:${instance.port}`, ephemeral: instance.ephemeral }, 'instance registered');
  }

  /** Resolves false for an unknown instance (the client must register again). */
  async heartbeat(namespace: string, service: string, id: string): Promise<boolean> {
    return (await this.heartbeats([{ namespace, service, id }]))[0]!;
  }

  /** Heartbeats of many instances: per instance, false when it is unknown. */
  async heartbeats(refs: readonly InstanceRef[]): Promise<boolean[]> {
    const slices: Promise<boolean[]>[] = [];
    for (let from = 0; from < refs.length; from += WRITES_PER_TURN) {
      if (from > 0) await yieldTurn();
      const slice = refs.slice(from, from + WRITES_PER_TURN);
      slices.push(awaitedLater(this.heardHere(slice, slice.map((r) => this.registry.heartbeat(r.namespace, r.service, r.id)))));
    }
    return (await Promise.all(slices)).flat();
  }

  /**
   * On a store with leases, of heartbeats the registry took (`alive`): those another replica held
   * are taken over, and the leases older versions bound records to are renewed.
   */
  private async heardHere(refs: readonly InstanceRef[], alive: boolean[]): Promise<boolean[]> {
    const leases = this.store.leases;
    if (!leases || !this.liveness) return alive;
    const known = refs.filter((_, i) => alive[i]);
    await this.liveness.heard(known);
    // A record an older metaroute bound to a lease of its own lives only while that is renewed.
    const renewed = await leases.refresh(known.map((r) => keyOf(r.namespace, r.service, r.id)));
    let next = 0;
    return alive.map((found) => found && renewed[next++]!);
  }

  async deregister(namespace: string, service: string, id: string): Promise<boolean> {
    const existed = await this.removeKey(keyOf(namespace, service, id));
    await this.applied();
    if (existed) this.log.info({ event: 'instance.deregistered', namespace, service, id }, 'instance deregistered');
    return existed;
  }

  /**
   * Registers and removes many instances; resolves once every write is durable and applied.
   * The writes share the store's group commit. Returns, per removal, whether it existed.
   * `removeFirst`: no registration is written before every removal is durable (a token's quota
   * counted on them; a failed one fails the call with nothing registered).
   */
  async batch(register: readonly Instance[], remove: readonly InstanceRef[], { removeFirst = false } = {}): Promise<boolean[]> {
    // Each promise is handled as it is made: one left unhandled across a turn ends the process.
    let failure: { error: unknown } | undefined;
    const settle = <T>(promise: Promise<T>): Promise<T | undefined> =>
      promise.catch((error: unknown) => {
        failure ??= { error };
        return undefined;
      });
    const removeAll = () => remove.map((r) => settle(this.removeKey(keyOf(r.namespace, r.service, r.id))));
    const removedFirst = removeFirst ? await Promise.all(removeAll()) : undefined;
    const writes: Promise<unknown>[] = [];
    for (let from = 0; from < register.length && !failure; from += WRITES_PER_TURN) {
      if (from > 0) await yieldTurn();
      writes.push(settle(this.write(register.slice(from, from + WRITES_PER_TURN))));
    }
    const removals = removedFirst ?? (failure ? [] : removeAll());
    await Promise.all(writes);
    const existed = await Promise.all(removals);
    if (failure) throw failure.error; // the first; no chunk went to the store once it was known
    await this.applied();
    this.logBatch(register, remove, existed as boolean[]);
    return existed as boolean[];
  }

  /**
   * One line per batch call, where a single registration logs one per instance: a batch of 10,000
   * (the agent's `--file`, a million-instance load) would log 10,000 lines. Without it the log held
   * no trace of what a batch registered or removed, so an instance that came or went through one
   * (an agent `--file` starting or stopping) could not be found there.
   */
  private logBatch(register: readonly Instance[], remove: readonly InstanceRef[], existed: readonly boolean[]): void {
    const deregistered = existed.filter(Boolean).length;
    // A call of deregistrations the server no longer knew is logged too (`missing`): an agent stopped
    // after its instances expired is one, and its line says the stop reached the server.
    if (register.length === 0 && remove.length === 0) return;
    const services = new Set<string>();
    for (const i of register) services.add(`${i.namespace}/${i.service}`);
    remove.forEach((r, k) => existed[k] && services.add(`${r.namespace}/${r.service}`));
    const names = [...services];
    this.log.info(
      { event: 'instances.batch', registered: register.length, deregistered, missing: remove.length - deregistered, services: names.slice(0, BATCH_LOG_SERVICES), servicesOmitted: Math.max(0, names.length - BATCH_LOG_SERVICES) },
      `batch: ${register.length} instance(s) registered, ${deregistered} deregistered`,
    );
  }

  /**
   * A deregistration or expiry: remembered until its delete comes back on the watch, so it is not
   * logged as another replica's. `remove` deletes the record (by default whatever it holds).
   */
  private async removeKey(key: string, remove = () => this.store.delete(key)): Promise<boolean> {
    this.deregistering.add(key);
    try {
      const existed = await remove();
      if (!existed) this.deregistering.delete(key);
      return existed;
    } catch (error) {
      this.deregistering.delete(key);
      throw error;
    }
  }

  /**
   * One store call for many instances (see `Store.putAll`). An ephemeral one's liveness key
   * follows its record, mostly in its transaction; a record stored without it (the other
   * transaction failed) is every replica's to expire until a heartbeat takes it over.
   */
  private write(instances: readonly Instance[]): Promise<void> {
    const writes: OwnWrite[] = [];
    const puts: StorePut[] = [];
    for (const instance of instances) {
      const key = keyOf(instance.namespace, instance.service, instance.id);
      const write = { key, value: storedRecord(instance), instance };
      const queue = this.written.get(key);
      if (queue) queue.push(write);
      else this.written.set(key, [write]);
      writes.push(write);
      puts.push(write);
      if (instance.ephemeral && this.liveness) puts.push(this.liveness.heardHere(instance));
    }
    return this.store.putAll(puts).catch((error: unknown) => {
      for (const write of writes) this.forgetWrite(write);
      throw error;
    });
  }

  /**
   * Deletes expired ephemeral instances from the store; the watch then drops them from the
   * registry, as for a deregistration. One with a registration of its own in flight is left to
   * it: that write renews the lease, and a delete queued behind it would undo what it answered.
   * One whose heartbeats another replica may hear is looked at again a TTL later (`HeardLiveness`).
   */
  async expire(): Promise<Instance[]> {
    const liveness = this.liveness;
    const expired = this.registry.expired(EXPIRE_PER_PASS, liveness?.mayBeHeardElsewhere()).filter((i) => !this.written.has(keyOf(i.namespace, i.service, i.id)));
    const remove = (i: Instance) => (liveness ? () => liveness.deleteRecord(i) : undefined); // unless taken over meanwhile
    await Promise.all(expired.map((i) => this.removeKey(keyOf(i.namespace, i.service, i.id), remove(i)).then((existed) => existed && this.log.info({ event: 'instance.expired', namespace: i.namespace, service: i.service, id: i.id, ttlSeconds: i.ttlSeconds }, 'instance expired: no heartbeat within its ttl'))));
    return expired;
  }

  /**
   * Deletes what the first load left out of the registry:
   * - the ephemeral records it refused (written before a rule they break, such as a host name):
   *   nothing would expire them (the registry knows no deadline for them), and an agent heartbeating one would
   *   meet 404 and a refused registration forever. Persistent ones stay (logged at each start)
   *   for their owner to fix;
   * - records displaced at their address by a later write (`loses`: stored before addresses were
   *   kept unique, or left by a replica that stopped between writing an instance and deleting the
   *   one it displaced), each only while it holds what was loaded. An ephemeral one still alive
   *   meets 404 at its next heartbeat and registers again, displacing the other.
   * The process that owns the store calls this (not an ext_proc worker).
   */
  async dropAtLoad(): Promise<void> {
    const refused = this.refusedAtLoad;
    const displaced = this.displacedAtLoad;
    this.refusedAtLoad = [];
    this.displacedAtLoad = [];
    const failed = (key: string) => (error: unknown) => this.log.error({ event: 'store.failed', key, err: error }, 'deleting a stored instance left out of the registry failed; it is tried again at the next start');
    await Promise.all([
      ...refused.map((key) => this.store.delete(key).then(() => this.log.warn({ event: 'instance.dropped', key }, 'an ephemeral instance stored before it became invalid was deleted'), failed(key))),
      ...displaced.map((d) => this.removeKey(d.key, () => this.store.deleteIf(d.key, d.value)).then((deleted) => deleted && this.logDisplaced(d.displaced, d.by), failed(d.key))),
    ]);
  }

  /** Resolves when every event queued so far is applied. */
  private applied(): Promise<void> {
    if (this.appliedCount >= this.queuedCount) return Promise.resolve();
    const count = this.queuedCount;
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  private enqueue(event: StoreEvent): void {
    this.pending.push(event);
    this.queuedCount++;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const until = performance.now() + SLICE_MS;
    this.registry.batch(() => {
      while (this.next < this.pending.length) {
        this.apply(this.pending[this.next++]!);
        this.appliedCount++;
        if ((this.next & 63) === 0 && performance.now() > until) break;
      }
    });
    if (this.next === this.pending.length) {
      this.pending.length = 0;
      this.next = 0;
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
    if (this.waiters.length > 0) {
      const due = this.waiters.filter((w) => w.count <= this.appliedCount);
      if (due.length > 0) {
        this.waiters = this.waiters.filter((w) => w.count > this.appliedCount);
        for (const w of due) w.resolve();
      }
    }
  }

  private apply(event: StoreEvent, atLoad = false): void {
    const [namespace, service, id] = event.key.slice(INSTANCES_PREFIX.length).split('/');
    if (!namespace || !service || !id) return;
    if (!atLoad && this.leftOutAtLoad.size > 0) this.settleLeftOut(event.key);
    if (event.type === 'delete') {
      const instance = this.registry.get(namespace, service, id);
      // Another replica expired or deregistered it (or etcd expired a lease an older metaroute bound it to).
      if (this.store.leases && instance?.ephemeral && !this.deregistering.has(event.key)) {
        this.log.info({ event: 'instance.expired', namespace, service, id, ttlSeconds: instance.ttlSeconds }, 'instance gone from the store: expired by the replica that heard its heartbeats, or deregistered through another one');
      }
      this.deregistering.delete(event.key);
      this.liveness?.release({ namespace, service, id });
      if (instance && this.registry.remove(namespace, service, id)) this.restoreConfigured(instance);
      this.restoreLeftOut(event.key);
      return;
    }
    const own = this.takeOwnWrite(event.key, event.value!);
    if (own) {
      this.upsert(own.instance, event, atLoad, true);
      return;
    }
    const { record, parsed } = this.parseRecord(event.key, event.value!, namespace, service, id);
    if (parsed.ok) {
      this.upsert(parsed.instance, event, atLoad, false);
      return;
    }
    this.log.error({ event: 'instance.refused', key: event.key, errors: parsed.errors }, 'ignoring an invalid stored instance');
    if (atLoad && this.ownsStore && record.ephemeral !== false) this.refusedAtLoad.push(event.key);
  }

  /** The key names the instance; records written before that was so carry the names too. */
  private parseRecord(key: string, value: string, namespace: string, service: string, id: string): { record: Record<string, unknown>; parsed: InstanceParse } {
    const record = JSON.parse(value) as Record<string, unknown>;
    return { record, parsed: parseInstance({ ...record, namespace, service, id }, { ttlSeconds: this.ttlSeconds, maxLabels: Infinity, minTtlSeconds: 0 }, key) };
  }

  /** After the record at `key` was deleted: what an ext_proc worker's first load left out for it comes back, if nothing of its own came since. */
  private restoreLeftOut(key: string): void {
    const leftOut = this.leftOutAtLoad.get(key);
    if (!leftOut) return;
    this.leftOutAtLoad.delete(key);
    const { namespace, service, id, host, port } = leftOut.instance;
    if (this.registry.get(namespace, service, id) || this.registry.at(namespace, service, host, port)) return; // another came since
    this.registry.upsert(leftOut.instance);
  }

  /** An event of a left-out instance's own key: what the store holds for it is that event's, not the snapshot's. */
  private settleLeftOut(key: string): void {
    for (const [kept, leftOut] of this.leftOutAtLoad) if (leftOut.key === key) this.leftOutAtLoad.delete(kept);
  }

  /** The own write `value` of `key` is, if one is in flight; it and the writes of the key queued before it (a store may keep only the last of several) are done. */
  private takeOwnWrite(key: string, value: string): OwnWrite | undefined {
    const queue = this.written.get(key);
    const at = queue ? queue.findIndex((write) => write.value === value) : -1;
    if (at < 0) return undefined;
    const own = queue![at]!;
    if (at === queue!.length - 1) this.written.delete(key);
    else queue!.splice(0, at + 1);
    return own;
  }

  private forgetWrite(write: OwnWrite): void {
    const queue = this.written.get(write.key);
    const at = queue ? queue.indexOf(write) : -1;
    if (at < 0) return;
    if (queue!.length === 1) this.written.delete(write.key);
    else queue!.splice(at, 1);
  }

  /**
   * Registers `instance`; another instance of its service at its address leaves the registry
   * (`ServiceView.upsert`) on every replica and worker alike, and the store: deleted by the
   * replica that wrote `instance` (only while its record is unchanged: it may have registered
   * again elsewhere meanwhile), or after the first load by the process that owns the store.
   */
  private upsert(instance: Instance, event: StoreEvent, atLoad: boolean, ownWrite: boolean): void {
    if (atLoad && this.loses(instance, event.key)) return;
    if (!instance.ephemeral) this.liveness?.release(instance); // registered again as persistent
    const previous = this.registry.get(instance.namespace, instance.service, instance.id);
    const displaced = this.registry.upsert(instance);
    if (previous && (previous.host !== instance.host || previous.port !== instance.port)) this.restoreConfigured(previous);
    if (!displaced) return;
    if (this.configuredById.get(configuredKey(displaced, displaced.id)) === displaced) {
      // From the configuration file: nothing stored to delete (a record under its id is another instance's).
      if (!atLoad && ownWrite) this.logDisplaced(displaced, instance);
      return;
    }
    this.restoreConfigured(displaced);
    const key = keyOf(displaced.namespace, displaced.service, displaced.id);
    if (atLoad) {
      if (this.ownsStore) this.displacedAtLoad.push({ key, value: '', displaced, by: instance }); // its value is filled in by start()
      else this.leftOutAtLoad.set(event.key, { key, instance: displaced });
    } else if (ownWrite) {
      this.removeDisplaced(key, displaced).then(
        (deleted) => deleted && this.logDisplaced(displaced, instance),
        (error: unknown) => this.log.error({ event: 'store.failed', key, err: error }, 'deleting a displaced instance failed; the next start deletes it'),
      );
    }
  }

  /**
   * Deletes the record of `displaced` while it still holds that instance (it may have registered
   * again elsewhere meanwhile). A record another version wrote spells it otherwise (fields at their
   * defaults, an address not in today's form): compared as an instance, it is deleted too, or it
   * would come back at a start after the instance that displaced it left.
   */
  private async removeDisplaced(key: string, displaced: Instance): Promise<boolean> {
    const expected = storedRecord(displaced);
    if (await this.removeKey(key, () => this.store.deleteIf(key, expected))) return true;
    const value = await this.store.get(key);
    if (value === undefined) return false;
    const { parsed } = this.parseRecord(key, value, displaced.namespace, displaced.service, displaced.id);
    return parsed.ok && storedRecord(parsed.instance) === expected ? this.removeKey(key, () => this.store.deleteIf(key, value)) : false;
  }

  /**
   * At load, of two instances stored at one address the later write stays, as while running
   * (a displaced record a crash or a lost race left behind must not come back). True when
   * `instance` (stored at `key`) is the earlier one: it is left out, and deleted by `dropAtLoad`.
   */
  private loses(instance: Instance, key: string): boolean {
    const holder = this.registry.at(instance.namespace, instance.service, instance.host, instance.port);
    if (!holder || holder.id === instance.id) return false;
    // A configured instance has no record (one stored under its id is another instance's): a registration displaces it.
    if (this.configuredById.get(configuredKey(holder, holder.id)) === holder) return false;
    const holderKey = keyOf(holder.namespace, holder.service, holder.id);
    if ((this.store.revisionOf?.(holderKey) ?? 0) <= (this.store.revisionOf?.(key) ?? 0)) return false;
    if (this.ownsStore) this.displacedAtLoad.push({ key, value: '', displaced: instance, by: holder });
    return true;
  }

  /**
   * `gone` left the registry (deregistered, expired, or moved to another address): a configured
   * instance it had displaced (at its address) or replaced (under its id) is still in the
   * configuration file, so it comes back, but only while its id and address are free: it never
   * displaces a registration.
   */
  private restoreConfigured(gone: Instance): void {
    if (this.configuredById.size === 0) return;
    for (const instance of [this.configuredById.get(configuredKey(gone, gone.id)), this.configuredAt.get(configuredKey(gone, `${gone.host}:${gone.port}`))]) {
      if (!instance || this.registry.get(instance.namespace, instance.service, instance.id)) continue;
      if (!this.registry.at(instance.namespace, instance.service, instance.host, instance.port)) this.registry.upsert(instance);
    }
  }


  private logDisplaced(displaced: Instance, by: Instance): void {
    this.log.warn(
      { event: 'instance.displaced', namespace: displaced.namespace, service: displaced.service, id: displaced.id, by: by.id, address: `${by.host}:${by.port}` },
      'instance removed: another instance of its service registered later at its address',
    );
  }
}

/**
 * An instance as stored: without what its key says (namespace, service, id) and without
 * fields at their defaults, so a million records stay small in the store and its log.
 */
export function storedRecord(instance: Instance): string {
  const record: Record<string, unknown> = { host: instance.host, port: instance.port };
  if (instance.weight !== 100) record.weight = instance.weight;
  if (Object.keys(instance.metadata).length > 0) record.metadata = instance.metadata;
  if (Object.keys(instance.locality).length > 0) record.locality = instance.locality;
  if (!instance.healthy) record.healthy = false;
  if (!instance.ephemeral) record.ephemeral = false;
  record.ttlSeconds = instance.ttlSeconds;
  return JSON.stringify(record);
}

/** A configured instance's key by its service and its id or its `host:port` (neither holds a NUL). */
function configuredKey(instance: Instance, idOrAddress: string): string {
  return `${serviceKey(instance.namespace, instance.service)}\u0000${idOrAddress}`;
}
