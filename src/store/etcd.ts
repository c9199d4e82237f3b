import type { Logger } from '../log/logger';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ConsecutiveBreaker, ExponentialBackoff, TimeoutStrategy, circuitBreaker, handleWhen, isBrokenCircuitError, retry, timeout, wrap, type IBackoff } from 'cockatiel';
import { Etcd3, EtcdLeaseInvalidError, GRPCDeadlineExceededError, isRecoverableError, type IKeyValue, type IResponseHeader, type IWatchResponse, type Watcher } from 'etcd3';
import { ITEMS_PER_STEP, yieldTurn } from '../model/slices';
import { ShardedMap } from '../model/sharded-map';
import { LeaseKeepAlives } from './etcd-keepalive';
import { ReplicaLeases } from './etcd-replica-leases';
import { etcdMessage } from './etcd-message';
import { copyUnslashedKeys, prefixEnd, prefixSegment } from './etcd-unslashed';
import { StoreUnavailableError, type PutOptions, type Store, type StoreEntry, type StoreEvent, type StoreLeases, type StoreListener, type StorePut } from './store';

export interface EtcdStoreConfig {
  readonly kind: 'etcd';
  /** `http://host:port` or `https://host:port`, one per member. */
  readonly endpoints: readonly string[];
  /**
   * Every key metaroute writes lives under it, so several meshes can share one etcd. A path
   * segment: `/mr` and `/mr/` are one (`prefixSegment`), and never hold `/mr-staging/`'s keys.
   */
  readonly prefix: string;
  /** PEM files: the CA that signed etcd's certificate, and this client's certificate and key for mutual TLS. */
  readonly tls: { readonly ca: string; readonly cert: string | undefined; readonly key: string | undefined } | undefined;
  readonly auth: { readonly username: string; readonly password: string } | undefined;
  /** The TTL of this replica's leases: how long after it stops (or loses etcd) the keys it held are deleted. */
  readonly leaseSeconds: number;
}

/** A unary etcd call that takes longer fails: a registration answers 503 instead of hanging. */
const CALL_TIMEOUT_MS = 2000;
/**
 * A call stops retrying once this has passed and an attempt fails (an attempt whose backoff
 * straddles it still starts). During a leader election the other members hold a write until
 * a leader is elected (2.2 s was seen in CI), so an attempt that waited out its 2 s deadline
 * must still be followed by one more (2 s: writes were refused while the leader was killed).
 * The attempt under way decides the answer, so none is left running after a 503. A hung etcd
 * answers 503 after about 4 s, at most this + the longest backoff (0.8 s) + one call's
 * deadline (2 s), 5.3 s; without the budget, 13–14 s.
 */
const CALL_BUDGET_MS = 2500;
/** A write resolves once this replica's own watch has applied it, or after this long (it is durable either way). */
const CATCH_UP_TIMEOUT_MS = 3000;
const RELIST_PAGE = 1000;
const NOTHING_STORED = 'nothing was stored';
/** While writes are refused, how often a probe asks etcd whether it takes them again (`metaroute_store_available`). */
const WRITE_PROBE_MS = 2000;
/** The most operations etcd takes in one transaction by default (its `--max-txn-ops`); a store learns a lower limit when etcd refuses it. */
const MAX_TXN_OPS = 128;
const TOO_MANY_OPS = /too many operations in txn request/;
/**
 * A key of the store's own under the prefix, never listed nor watched: a random id written once
 * per etcd history. An etcd started again on an empty data directory with the same flags has the
 * same cluster id, and writes soon number its revisions past the mirror's: only this id tells
 * that its history is not the one the mirror followed.
 */
const HISTORY_KEY = '.history';

/** Which etcd data the mirror reflects. */
interface History {
  readonly cluster: string;
  /** The value of HISTORY_KEY. */
  readonly id: string;
}

/** Where the mirror stood when a write was sent: etcd answers it with a later revision of the same history. */
interface Sent {
  readonly revision: number;
  readonly relists: number;
}

interface MirrorEntry {
  readonly value: string;
  readonly modRevision: number;
  /** etcd lease id, '0' for none. */
  readonly lease: string;
}

/**
 * The distributed store: keys in etcd under a prefix, mirrored in memory by one watch.
 * Reads (list) answer from the mirror, so a replica keeps serving its last complete
 * snapshot while etcd is unreachable; writes then fail with StoreUnavailableError (503).
 * The watch resumes from the last revision it applied; when etcd has compacted that
 * revision away, the store lists the prefix again and hands watchers only the
 * difference to what they saw (nothing lost, nothing applied twice). It does the same,
 * renumbering its revision, when etcd no longer holds the history the mirror followed
 * (replaced by an empty etcd, or restored from an older snapshot): noticed when the watch
 * connects (another cluster id or history id, or a revision behind the mirror's) or when a
 * write is answered with a revision the mirror had already passed. A key put with `held`
 * is bound to one of this replica's leases (`StoreLeases`, `ReplicaLeases`).
 */
export class EtcdStore implements Store {
  readonly leases: StoreLeases = {
    holder: (key) => this.holder(key),
    refresh: (keys) => this.refresh(keys),
    deleteUnlessHeldElsewhere: (key, holderKey) => this.deleteUnlessHeldElsewhere(key, holderKey),
    lastOutage: () => (this.reachable ? this.outageAt : performance.now()),
  };
  /** Sharded: at a million keys a Map copies its whole table in one step as it grows (35-80 ms). */
  private readonly mirror = new ShardedMap<MirrorEntry>();
  private readonly watchers = new Set<{ prefix: string; listener: StoreListener }>();
  private readonly waiters = new Set<{ revision: number; resolve: () => void }>();
  /** The etcd revision the mirror reflects. */
  private revision = 0;
  private history: History = { cluster: '', id: '' };
  /** Relists so far: a write sent before one is not compared with the revisions after it. */
  private relists = 0;
  /** A relist under way; writes resolve after it, as it may renumber the revision. */
  private resyncing: Promise<void> | undefined;
  /** A relist has applied some of etcd's keys but not all: the mirror is neither the old data nor the new. */
  private partlyRelisted = false;
  private watcher: Watcher | undefined;
  private reachable = true;
  private refusedWrites = 0;
  private closed = false;
  private readonly keepAlives: LeaseKeepAlives;
  private readonly replicaLeases: ReplicaLeases;
  /** When a write or a lease renewal last failed, or the watch lost etcd (performance.now()). */
  private outageAt = -Infinity;
  /** The next write probe while writes are refused (`probeWrites`). */
  private probeTimer: NodeJS.Timeout | undefined;
  /** A refused write was logged in this outage (a failed lease renewal logs its own warning). */
  private refusalLogged = false;
  private txnOps = MAX_TXN_OPS;
  /** `config.prefix` as a path segment: every etcd key is this + a store key. */
  private readonly prefix: string;

  private constructor(
    private readonly client: Etcd3,
    private readonly config: EtcdStoreConfig,
    private readonly log: Logger,
  ) {
    this.keepAlives = new LeaseKeepAlives(client.leaseClient, CALL_TIMEOUT_MS);
    this.replicaLeases = new ReplicaLeases(client.leaseClient, this.keepAlives, config.leaseSeconds, log, (renewed) => {
      if (renewed) this.writesTaken();
      else this.writeRefused(); // the leases' own warning says so
    });
    this.prefix = prefixSegment(config.prefix);
  }

  /**
   * `ownKeys`: the store keys the caller writes (a name ending in `/` stands for every key under
   * it), copied from where an older version stored them under a prefix configured without its
   * trailing `/` (`copyUnslashedKeys`).
   */
  static async open(config: EtcdStoreConfig, log: Logger, ownKeys: readonly string[] = []): Promise<EtcdStore> {
    const client = new Etcd3({
      hosts: [...config.endpoints],
      credentials: config.tls && {
        rootCertificate: fs.readFileSync(config.tls.ca),
        privateKey: config.tls.key ? fs.readFileSync(config.tls.key) : undefined,
        certChain: config.tls.cert ? fs.readFileSync(config.tls.cert) : undefined,
      },
      auth: config.auth && { username: config.auth.username, password: config.auth.password },
      dialTimeout: CALL_TIMEOUT_MS,
      // A watch response holds a whole revision: a prefix deleted at once, or a lease revoked with
      // many keys, is past grpc-js's default 4 MiB, and the watch would reconnect at that revision
      // for good. Still bounded, so a runaway fails loudly rather than taking all memory.
      grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
      faultHandling: {
        // Another member is tried soon; a member that failed is retried after a second, not the default five. A
        // leader election takes one to two seconds (2.2 s was seen in CI): failing fast, a write's attempts start at
        // about 0, 0.1, 0.3, 0.7, 1.5, 2.3 and 3.1 s (backoff with jitter; CALL_BUDGET_MS) before it is a 503. Puts and deletes are idempotent. A call
        // refused by an open breaker (every member failed three times running, as in an election) is retried too:
        // etcd3 does not count that as recoverable, and such writes answered 503 after 0.7 s.
        global: wrap(
          timeout(CALL_BUDGET_MS, TimeoutStrategy.Cooperative),
          retry(handleWhen((error) => isRecoverableError(error) || isBrokenCircuitError(error)), { maxAttempts: 8, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 800 }) }),
        ),
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        // etcd3 calls .next() on it (a backoff factory) although its type names a backoff.
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) as unknown as IBackoff<unknown>,
      },
    });
    const store = new EtcdStore(client, config, log);
    try {
      await copyUnslashedKeys(client, config.prefix, ownKeys, HISTORY_KEY, log);
      await store.relist();
    } catch (error) {
      client.close();
      throw new Error(`etcd at ${config.endpoints.join(', ')} did not answer the first list of ${store.prefix} (unreachable, or refused TLS or credentials): ${etcdMessage(error)}`);
    }
    store.startWatch();
    log.info({ event: 'store' }, `store: etcd ${config.endpoints.join(', ')}: loaded ${store.mirror.size} keys under ${store.prefix} at revision ${store.revision}`);
    return store;
  }

  async list(prefix: string): Promise<{ entries: StoreEntry[]; revision: number }> {
    // A relist half applied holds part old, part new keys (a worker's snapshot taken then would too);
    // before it applies anything (etcd still unreachable), the last complete snapshot is served.
    while (this.partlyRelisted && this.resyncing) await this.resyncing;
    const entries: StoreEntry[] = [];
    for (const [key, { value }] of this.mirror.entries()) if (key.startsWith(prefix)) entries.push({ key, value });
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { entries, revision: this.revision };
  }

  /** From the watched copy: it holds every write this replica made (each waits for it) and what the watch brought since. */
  async get(key: string): Promise<string | undefined> {
    return this.mirror.get(key)?.value;
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<number> {
    const revision = await this.putHeld([{ key, value, held: options.held }], NOTHING_STORED);
    await this.caughtUp(revision);
    return revision;
  }

  /** One transaction: put if the value is `expected` (or the key is absent), else read what it holds. */
  async putIf(key: string, value: string, expected: string | undefined): Promise<number | undefined> {
    const etcdKey = this.etcdKey(key);
    const compare = expected === undefined ? { key: etcdKey, target: 'Version' as const, result: 'Equal' as const, version: 0 } : { key: etcdKey, target: 'Value' as const, result: 'Equal' as const, value: Buffer.from(expected) };
    const sent = this.sent();
    const answer = await this.guard(key, () => this.client.kv.txn({ compare: [compare], success: [{ request_put: { key: etcdKey, value: Buffer.from(value) } }], failure: [{ request_range: { key: etcdKey } }] }));
    if (answer.succeeded) this.checkWrite(sent, answer.header);
    const held = answer.succeeded ? undefined : answer.responses[0]?.response_range.kvs[0];
    // A retried call whose first try committed finds its own value: that is success.
    const stored = answer.succeeded || held?.value.toString() === value;
    await this.caughtUp(answer.succeeded ? Number(answer.header.revision) : Number(held?.mod_revision ?? 0));
    return stored ? Number(held?.mod_revision ?? answer.header.revision) : undefined;
  }

  async putAll(puts: readonly StorePut[]): Promise<void> {
    // A transaction may name a key once: of puts to one key, the last is the one that stays.
    const byKey = new Map<string, StorePut>();
    for (const put of puts) byKey.set(put.key, put);
    const unique = [...byKey.values()];
    const transactions: Promise<number>[] = [];
    const outcome = unique.length > this.txnOps ? 'part of the batch may be stored' : NOTHING_STORED;
    let refused = false;
    for (let from = 0; from < unique.length && !refused; from += this.txnOps) {
      // One transaction made and sent per turn: the 16 of 2,000 puts held the loop 30-100 ms at once.
      if (from > 0) await yieldTurn();
      if (this.closed) throw new StoreUnavailableError(`the store closed while a batch was being written, ${outcome}; try again`);
      const transaction = this.putHeld(unique.slice(from, from + this.txnOps), outcome);
      transaction.catch(() => (refused = true)); // the rest stay unsent; Promise.all below reports the refusal
      transactions.push(transaction);
    }
    const revisions = await Promise.all(transactions);
    await this.caughtUp(Math.max(0, ...revisions));
  }

  /**
   * Puts of distinct keys in one transaction (one revision); those `held` on this replica's
   * leases, granted again if etcd no longer knows one. Resolves with its revision.
   */
  private putHeld(puts: readonly StorePut[], outcome: string): Promise<number> {
    return this.guard(puts[0]!.key, async () => {
      const leasesOf = () => Promise.all(puts.map((put) => (put.held ? this.replicaLeases.idFor(put.key) : undefined)));
      const leases = await leasesOf();
      try {
        return await this.transact(puts, leases);
      } catch (error) {
        if (!(error instanceof EtcdLeaseInvalidError)) throw error;
        await this.replicaLeases.lostAmong(leases.filter((lease) => lease !== undefined));
        return this.transact(puts, await leasesOf());
      }
    }, outcome);
  }

  /** One transaction; where etcd takes fewer operations in one (its `--max-txn-ops`), halves until it takes them. */
  private async transact(puts: readonly StorePut[], leases: readonly (string | undefined)[]): Promise<number> {
    try {
      const sent = this.sent();
      const answer = await this.client.kv.txn({ success: puts.map((put, i) => ({ request_put: { key: this.etcdKey(put.key), value: Buffer.from(put.value), lease: leases[i] } })) });
      this.checkWrite(sent, answer.header);
      return Number(answer.header.revision);
    } catch (error) {
      if (puts.length > 1 && TOO_MANY_OPS.test((error as Error).message)) {
        const half = Math.ceil(puts.length / 2);
        this.txnOps = Math.min(this.txnOps, half);
        const revisions = await Promise.all([this.transact(puts.slice(0, half), leases.slice(0, half)), this.transact(puts.slice(half), leases.slice(half))]);
        return Math.max(...revisions);
      }
      throw error;
    }
  }

  /** A key on one of this replica's leases reads as another's once that lease went a TTL unrenewed. */
  private holder(key: string): 'this replica' | 'another replica' | undefined {
    const lease = this.mirror.get(key)?.lease;
    if (lease === undefined || lease === '0') return undefined;
    return lease === this.replicaLeases.heldFor(key) ? 'this replica' : 'another replica';
  }

  /** One transaction comparing the holder key's lease with what the mirror says it is. */
  private async deleteUnlessHeldElsewhere(key: string, holderKey: string): Promise<boolean> {
    const holder = this.holder(holderKey);
    if (holder === 'another replica') return false;
    const lease = holder === 'this replica' ? this.mirror.get(holderKey)!.lease : '0'; // an absent key compares as lease 0
    const deletes = [{ request_delete_range: { key: this.etcdKey(key) } }];
    if (holder === 'this replica' && holderKey !== key) deletes.push({ request_delete_range: { key: this.etcdKey(holderKey) } });
    const sent = this.sent();
    const answer = await this.guard(key, () => this.client.kv.txn({ compare: [{ key: this.etcdKey(holderKey), target: 'Lease', result: 'Equal', lease }], success: deletes, failure: [] }));
    // Refused (taken over meanwhile), or a delete of nothing: no revision this watch would see.
    if (!answer.succeeded || !answer.responses.some((r) => Number(r.response_delete_range.deleted) > 0)) return false;
    this.checkWrite(sent, answer.header);
    await this.caughtUp(Number(answer.header.revision));
    return Number(answer.responses[0]!.response_delete_range.deleted) > 0;
  }

  async delete(key: string): Promise<boolean> {
    const sent = this.sent();
    const answer = await this.guard(key, () => this.client.kv.deleteRange({ key: this.etcdKey(key) }));
    const deleted = Number(answer.deleted) > 0;
    // A delete of nothing makes no revision this watch would see: nothing to wait for.
    if (!deleted) return false;
    this.checkWrite(sent, answer.header);
    await this.caughtUp(Number(answer.header.revision));
    return true;
  }

  async deleteIf(key: string, expected: string): Promise<boolean> {
    const etcdKey = this.etcdKey(key);
    const sent = this.sent();
    const compare = { key: etcdKey, target: 'Value' as const, result: 'Equal' as const, value: Buffer.from(expected) };
    const answer = await this.guard(key, () => this.client.kv.txn({ compare: [compare], success: [{ request_delete_range: { key: etcdKey } }], failure: [] }));
    if (!answer.succeeded) return false;
    this.checkWrite(sent, answer.header);
    await this.caughtUp(Number(answer.header.revision));
    return true;
  }

  available(): boolean {
    return this.reachable && this.refusedWrites === 0 && !this.closed;
  }

  revisionOf(key: string): number | undefined {
    return this.mirror.get(key)?.modRevision;
  }

  watch(prefix: string, afterRevision: number, listener: StoreListener): () => void {
    if (afterRevision < this.revision) throw new Error(`etcd store watchers follow on from list(): revision ${afterRevision} is behind ${this.revision}`);
    const watcher = { prefix, listener };
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.probeTimer);
    // A cancel waits for etcd's answer, which an unreachable etcd never gives.
    await withTimeout(this.watcher?.cancel() ?? Promise.resolve(), 'watch cancel').catch(() => undefined);
    for (const waiter of this.waiters) waiter.resolve();
    this.keepAlives.close();
    // Revoked, the keys they held go now: other replicas take over without waiting out the TTL.
    await withTimeout(this.replicaLeases.close(), 'lease revoke').catch(() => undefined);
    this.client.close();
  }

  /** One promise for the lot: a key with no lease of its own (all but an older version's) needs none. */
  private async refresh(keys: readonly string[]): Promise<boolean[]> {
    const renewals: Promise<void>[] = [];
    const alive = keys.map((key, i) => {
      const entry = this.mirror.get(key);
      if (!entry) return false;
      if (entry.lease !== '0' && !this.replicaLeases.owns(entry.lease)) {
        renewals.push(this.guard(key, () => this.keepAlives.renew(entry.lease)).then((ttl) => void (alive[i] = ttl > 0)));
      }
      return true;
    });
    await Promise.all(renewals);
    return alive;
  }

  private etcdKey(key: string): Buffer {
    return Buffer.from(this.prefix + key);
  }

  /**
   * Runs one etcd write; a failure becomes StoreUnavailableError (503, saying `outcome`), logged
   * once per outage. A last attempt that timed out may have been committed all the same.
   */
  private async guard<T>(key: string, call: () => Promise<T>, outcome = NOTHING_STORED): Promise<T> {
    if (this.closed) throw new Error('store is closed');
    let result: T;
    try {
      result = await call();
    } catch (error) {
      if (error instanceof GRPCDeadlineExceededError && outcome === NOTHING_STORED) outcome = 'it may or may not be stored (etcd did not answer in time; read it back)';
      this.writeRefused();
      if (!this.refusalLogged) {
        this.refusalLogged = true;
        this.log.warn({ event: 'store.failed' }, `store: etcd refused or timed out a write of ${key} (${etcdMessage(error)}); writes answer 503 until it is back`);
      }
      throw new StoreUnavailableError(`etcd (${this.config.endpoints.join(', ')}) did not take the write, ${outcome}; try again: ${etcdMessage(error)}`);
    }
    this.writesTaken();
    return result;
  }

  /** etcd took a write (or renewed a lease, which its leader does): writes are no longer refused. */
  private writesTaken(): void {
    if (this.refusedWrites === 0) return;
    this.log.info({ event: 'store' }, `store: etcd takes writes again (${this.refusedWrites} writes or lease renewals refused meanwhile)`);
    this.refusedWrites = 0;
    this.refusalLogged = false;
  }

  /** A write or a lease renewal failed. Probing starts, so a replica that writes nothing still learns when etcd is back. */
  private writeRefused(): void {
    this.outageAt = performance.now();
    this.refusedWrites++;
    this.scheduleWriteProbe();
  }

  private scheduleWriteProbe(): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      void this.probeWrites();
    }, WRITE_PROBE_MS);
    this.probeTimer.unref();
  }

  /**
   * While writes are refused: a transaction with a put whose comparison never holds goes through
   * etcd's leader and its space check as a write does, and writes nothing.
   */
  private async probeWrites(): Promise<void> {
    if (this.refusedWrites === 0 || this.closed) return;
    const refused = this.refusedWrites;
    const key = this.etcdKey(HISTORY_KEY);
    try {
      await this.client.kv.txn({ compare: [{ key, target: 'Version', result: 'Less', version: 0 }], success: [{ request_put: { key, value: Buffer.alloc(0) } }], failure: [] });
      // A write refused while the probe was on its way is newer news than the probe's.
      if (this.refusedWrites === refused) this.writesTaken();
      else this.scheduleWriteProbe();
    } catch {
      if (this.refusedWrites === 0) return; // a write got through meanwhile
      this.outageAt = performance.now();
      this.scheduleWriteProbe();
    }
  }

  /**
   * Resolves once this replica's watch has applied `revision`, so a caller reads its own
   * write here as every other replica soon will (or after a timeout: the write is durable).
   */
  private caughtUp(revision: number): Promise<void> {
    if (this.applied(revision) || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        revision,
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.log.warn({ event: 'store.failed' }, `store: the watch has not applied revision ${revision} after ${CATCH_UP_TIMEOUT_MS} ms (at ${this.revision}); the write is stored, answering without it`);
        waiter.resolve();
      }, CATCH_UP_TIMEOUT_MS);
      this.waiters.add(waiter);
    });
  }

  /** Whether the mirror holds `revision`; not while a relist may renumber it. */
  private applied(revision: number): boolean {
    return this.resyncing === undefined && revision <= this.revision;
  }

  private wake(): void {
    for (const waiter of this.waiters) if (this.applied(waiter.revision)) waiter.resolve();
  }

  private sent(): Sent {
    return { revision: this.revision, relists: this.relists };
  }

  /**
   * In one history a write commits after everything the mirror had applied when it was sent,
   * so an answer at or below that revision, or from another cluster, comes from other data.
   */
  private checkWrite(sent: Sent, header: IResponseHeader): void {
    if (sent.relists !== this.relists) return;
    const revision = Number(header.revision);
    if (header.cluster_id !== this.history.cluster) void this.resync(`a write was answered by etcd cluster ${header.cluster_id}, not ${this.history.cluster}`, true);
    else if (revision <= sent.revision) void this.resync(`a write was answered at revision ${revision}, which the mirror had passed (${sent.revision})`, true);
  }

  private startWatch(): void {
    // A relist in flight when the store closed may still answer (closing the client lets calls
    // under way finish): a watch started then would retry on the closed client for good, and
    // its timers would keep the process alive.
    if (this.closed) return;
    const watcher = this.client.watch().prefix(this.prefix).startRevision(String(this.revision + 1)).watcher();
    this.watcher = watcher;
    watcher.on('data', (response: IWatchResponse) => {
      if (watcher === this.watcher) this.onWatch(watcher, response);
    });
    watcher.on('disconnected', (error: Error) => {
      if (!this.reachable || this.closed || watcher !== this.watcher) return;
      this.outageAt = performance.now();
      this.reachable = false;
      this.log.warn({ event: 'store.failed' }, `store: lost etcd (${etcdMessage(error)}); serving the last snapshot (revision ${this.revision}) until it is back`);
    });
    watcher.on('connected', () => {
      if (watcher !== this.watcher) return;
      // etcd3 moves the resume point to the creation header's revision, ahead of events not yet sent: keep ours.
      watcher.request.start_revision = String(this.revision + 1);
      void this.checkHistory();
      if (this.reachable) return;
      this.reachable = true;
      this.log.info({ event: 'store' }, `store: etcd is back; the watch resumes after revision ${this.revision}`);
    });
    // etcd cancels a watch whose revision it has compacted away (or for any other reason): list again.
    watcher.on('error', (error: Error) => {
      if (this.closed || watcher !== this.watcher) return;
      this.watcher = undefined; // etcd has ended it: nothing to cancel
      this.log.warn({ event: 'store.failed' }, `store: etcd ended the watch at revision ${this.revision} (${etcdMessage(error)}); listing ${this.prefix} again`);
      void this.resync(`etcd ended the watch: ${etcdMessage(error)}`, false);
    });
  }

  /** Stops following the watch: its events are ignored from now on, and it is cancelled in the background. */
  private stopWatch(): void {
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher) void withTimeout(watcher.cancel(), 'watch cancel').catch(() => undefined);
  }

  /** On each watch connection: is the etcd it reached still holding the history the mirror followed? */
  private async checkHistory(): Promise<void> {
    const relists = this.relists;
    let why: string | undefined;
    try {
      const answer = await this.client.kv.range({ key: this.etcdKey(HISTORY_KEY) });
      why = this.historyChange(answer.header, answer.kvs[0]?.value.toString() ?? '');
    } catch (error) {
      why = `its history could not be checked (${etcdMessage(error)})`; // a relist is right in any case
    }
    if (why && relists === this.relists && !this.closed) void this.resync(why, false);
  }

  private historyChange(header: IResponseHeader, id: string): string | undefined {
    if (header.cluster_id !== this.history.cluster) return `etcd cluster ${header.cluster_id}, not ${this.history.cluster}`;
    if (Number(header.revision) < this.revision) return `etcd at revision ${header.revision}, behind the mirror's ${this.revision}`;
    if (id !== this.history.id) return id ? `etcd history ${id}, not ${this.history.id}` : 'etcd holds no history id (emptied or replaced)';
    return undefined;
  }

  /** One relist at a time; writes wait for it (`applied`). `reset`: the history is known to have changed. */
  private resync(why: string, reset: boolean): Promise<void> {
    this.resyncing ??= this.relistAndWatch(why, reset).finally(() => {
      this.resyncing = undefined;
      this.wake();
    });
    return this.resyncing;
  }

  private async relistAndWatch(why: string, reset: boolean): Promise<void> {
    this.stopWatch();
    const before = { revision: this.revision, ...this.history };
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const diff = await this.relist();
        const renumbered = reset || this.history.cluster !== before.cluster || this.history.id !== before.id || this.revision < before.revision;
        if (renumbered) {
          this.log.warn(
            { event: 'store.reset', fromRevision: before.revision, toRevision: this.revision, fromCluster: before.cluster, toCluster: this.history.cluster, fromHistory: before.id, toHistory: this.history.id, ...diff },
            `store: etcd no longer holds the data this replica followed (${why}); relisted ${this.prefix}: ${diff.added} keys added, ${diff.changed} changed, ${diff.removed} removed, revision ${before.revision} -> ${this.revision}`,
          );
        } else {
          this.log.info({ event: 'store' }, `store: resynchronised at revision ${this.revision} (${diff.added + diff.changed + diff.removed} keys changed)`);
        }
        this.startWatch();
        return;
      } catch (error) {
        if (attempt === 0) this.log.warn({ event: 'store.failed' }, `store: listing etcd failed (${etcdMessage(error)}); retrying`);
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
      }
    }
  }

  private onWatch(watcher: Watcher, response: IWatchResponse): void {
    const events = response.events;
    for (const event of events) {
      const key = event.kv.key.toString().slice(this.prefix.length);
      const revision = Number(event.kv.mod_revision);
      if (key === HISTORY_KEY) {
        const id = event.type === 'Put' ? event.kv.value.toString() : '';
        // A replica claims a new history only for an etcd that no longer holds the one this mirror followed.
        if (this.history.id && id !== this.history.id) void this.resync(id ? `etcd history ${id}, not ${this.history.id}` : 'etcd history id deleted', true);
        else this.history = { ...this.history, id };
        continue;
      }
      const known = this.mirror.get(key);
      if (known && known.modRevision >= revision) continue; // already applied (by a relist)
      if (event.type === 'Put') this.applyPut(key, event.kv, revision);
      else if (known) this.applyDelete(key, revision);
    }
    // Resume after the last event applied; etcd's header may be ahead of events it has not sent yet.
    const resumeAfter = events.length ? Number(events[events.length - 1]!.kv.mod_revision) : Number(response.header.revision);
    if (resumeAfter > this.revision) this.revision = resumeAfter;
    watcher.request.start_revision = String(this.revision + 1); // etcd3 set it from the header
    this.wake();
  }

  private applyPut(key: string, kv: IKeyValue, revision: number): void {
    const value = kv.value.toString();
    this.mirror.set(key, { value, modRevision: revision, lease: String(kv.lease ?? '0') });
    this.notify({ type: 'put', key, value, revision });
  }

  private applyDelete(key: string, revision: number): void {
    this.mirror.delete(key);
    this.notify({ type: 'delete', key, revision });
  }

  /**
   * Lists the prefix at one revision, page by page, and makes the mirror equal to it, handing
   * watchers each difference as an event; the mirror's revision becomes the list's, lower too
   * when etcd's history changed. Claims a history id for etcd data that has none.
   */
  private async relist(): Promise<{ added: number; changed: number; removed: number }> {
    const prefix = Buffer.from(this.prefix);
    const rangeEnd = prefixEnd(prefix);
    const seen = new Set<string>();
    let header: IResponseHeader | undefined;
    let id = '';
    let from = prefix;
    const diff = { added: 0, changed: 0, removed: 0 };
    for (;;) {
      const page = await this.client.kv.range({ key: from, range_end: rangeEnd, limit: RELIST_PAGE, revision: header?.revision });
      header ??= page.header;
      if (page.kvs.length > 0) this.partlyRelisted = true;
      for (const kv of page.kvs) {
        const key = kv.key.toString().slice(this.prefix.length);
        if (key === HISTORY_KEY) id = kv.value.toString();
        else {
          seen.add(key);
          this.relisted(key, kv, diff);
        }
      }
      if (!page.more || page.kvs.length === 0) break;
      from = Buffer.concat([page.kvs[page.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    const at = Number(header.revision);
    let step = 0;
    for (const [key] of this.mirror.entries()) {
      if (++step % ITEMS_PER_STEP === 0) await yieldTurn(); // a million keys must not hold the event loop
      if (seen.has(key)) continue; // the watch is stopped: nothing else changes the mirror during this walk
      diff.removed++;
      this.applyDelete(key, at);
    }
    this.revision = at;
    this.partlyRelisted = false;
    this.relists++;
    this.history = { cluster: header.cluster_id, id: id || (await this.claimHistory()) };
    return diff;
  }

  /** Applies one listed key where the mirror differs. */
  private relisted(key: string, kv: IKeyValue, diff: { added: number; changed: number }): void {
    const known = this.mirror.get(key);
    const revision = Number(kv.mod_revision);
    const value = kv.value.toString();
    if (known?.value === value) {
      // Only renumbered (or the same write): watchers hold this value already, and a rule document
      // applied again would show twice in the rules history.
      this.mirror.set(key, { value, modRevision: revision, lease: String(kv.lease ?? '0') });
      return;
    }
    if (known) diff.changed++;
    else diff.added++;
    this.applyPut(key, kv, revision);
  }

  /** Writes a new history id unless etcd holds one already (another replica's); returns the one etcd holds. */
  private async claimHistory(): Promise<string> {
    const key = this.etcdKey(HISTORY_KEY);
    const id = randomUUID();
    const answer = await this.client.kv.txn({
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key, value: Buffer.from(id) } }],
      failure: [{ request_range: { key } }],
    });
    return answer.succeeded ? id : answer.responses[0]!.response_range.kvs[0]!.value.toString();
  }

  /** A watcher that throws is logged and skipped: it must not stall the others. */
  private notify(event: StoreEvent): void {
    for (const w of this.watchers) {
      if (!event.key.startsWith(w.prefix)) continue;
      try {
        w.listener(event);
      } catch (error) {
        this.log.warn({ event: 'store.failed' }, `store watcher for ${w.prefix} failed on ${event.key}: ${(error as Error).message}`);
      }
    }
  }
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: Error) => (clearTimeout(timer), reject(error)),
    );
  });
}
