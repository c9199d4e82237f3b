import { performance } from 'node:perf_hooks';
import type { LeaseClient } from 'etcd3';
import type { Logger } from '../log/logger';
import { fnv1a } from '../model/hash';
import type { LeaseKeepAlives } from './etcd-keepalive';
import { etcdMessage } from './etcd-message';

/**
 * A replica's held keys are spread over this many leases by a hash of the key. When a replica
 * stops, etcd deletes what a lease held at one revision, and every other replica decodes and
 * applies that revision in one go: 100,000 keys on one lease held another replica's event loop
 * 362–646 ms (`bench/store/replica-stop.js`). Over 256, a lease holds about 390 of 100,000:
 * 13–19 ms, closed or killed.
 */
const SHARDS = 256;
/** Revocations in flight at once on close: fast enough for a stop, few enough that other replicas apply a few leases' deletes at a time. */
const REVOKE_CONCURRENCY = 4;

interface Grant {
  readonly id: Promise<string>;
  granted?: string;
  /** When etcd last confirmed it (performance.now()). */
  renewedAt: number;
  /** Its next renewal. */
  timer?: NodeJS.Timeout;
}

/**
 * This replica's etcd leases, which the keys it holds are bound to. Each is granted at first use
 * and renewed every third of the TTL on a timer of its own, first after a delay that spreads the
 * leases over that third: after a crash they run out one by one, not at once. A timer a busy
 * event loop held back fires as soon as it can. One etcd let run out, or that went a whole TTL
 * without a renewal (cut off: etcd has let it run out, unless a new leader extended it), is
 * dropped, and the next use grants another. On close they are revoked a few at a time.
 */
export class ReplicaLeases {
  private readonly grants: Array<Grant | undefined> = new Array<Grant | undefined>(SHARDS).fill(undefined);
  private readonly granted = new Set<string>();
  private closed = false;
  /** An outage's renewal failures and dropped leases are logged once each, until a renewal succeeds. */
  private logged = { failing: false, dropped: false };

  constructor(
    private readonly leases: LeaseClient,
    private readonly keepAlives: LeaseKeepAlives,
    private readonly ttlSeconds: number,
    private readonly log: Logger,
    /** After each renewal: false when it failed (etcd is out as far as this replica can tell). */
    private readonly onRenewal: (renewed: boolean) => void,
  ) {}

  /** The lease `key` is to be held on, granted first if there is none. */
  idFor(key: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    const shard = shardOf(key);
    const current = this.grants[shard];
    if (current) return current.id;
    const grant: Grant = { id: this.leases.leaseGrant({ TTL: this.ttlSeconds, ID: 0 }).then(({ ID }) => ID), renewedAt: performance.now() };
    this.grants[shard] = grant;
    grant.id.then(
      (id) => {
        if (this.grants[shard] !== grant) return; // closed meanwhile: close() revokes it
        grant.granted = id;
        grant.renewedAt = performance.now();
        this.granted.add(id);
        this.schedule(grant, id, (this.periodMs() * shard) / SHARDS);
      },
      () => this.drop(grant),
    );
    return grant.id;
  }

  /** The lease `key` is held on here while etcd is known to keep it (renewed within its TTL); undefined otherwise. */
  heldFor(key: string): string | undefined {
    const grant = this.grants[shardOf(key)];
    if (grant?.granted === undefined || performance.now() - grant.renewedAt >= this.ttlSeconds * 1000) return undefined;
    return grant.granted;
  }

  /** Whether `id` is one of this replica's current leases. */
  owns(id: string): boolean {
    return this.granted.has(id);
  }

  /**
   * etcd refused a put naming `ids` (one of them not found, it does not say which): each is
   * renewed, and those etcd no longer knows are dropped, so the next use grants another.
   */
  async lostAmong(ids: readonly string[]): Promise<void> {
    await Promise.all([...new Set(ids)].map(async (id) => {
      const grant = this.grants.find((g) => g?.granted === id);
      if (grant && (await this.keepAlives.renew(id)) <= 0) this.drop(grant);
    }));
  }

  /** Revokes them, a few at a time, so the keys they hold go now rather than a TTL later. */
  async close(): Promise<void> {
    this.closed = true;
    const grants = this.grants.splice(0, SHARDS).filter((grant): grant is Grant => grant !== undefined);
    for (const grant of grants) clearTimeout(grant.timer);
    const revoke = async (grant: Grant) => {
      const ID = await grant.id.catch(() => undefined);
      if (ID !== undefined) await this.leases.leaseRevoke({ ID }).catch(() => undefined); // one etcd already let run out
    };
    for (let from = 0; from < grants.length; from += REVOKE_CONCURRENCY) await Promise.all(grants.slice(from, from + REVOKE_CONCURRENCY).map(revoke));
  }

  private periodMs(): number {
    return (this.ttlSeconds * 1000) / 3;
  }

  private schedule(grant: Grant, id: string, delayMs: number): void {
    grant.timer = setTimeout(() => void this.renew(grant, id), delayMs).unref();
  }

  private async renew(grant: Grant, id: string): Promise<void> {
    let ttl: number;
    try {
      ttl = await this.keepAlives.renew(id);
    } catch (error) {
      this.onRenewal(false);
      if (!this.grants.includes(grant)) return;
      if (performance.now() - grant.renewedAt < this.ttlSeconds * 1000) {
        if (!this.logged.failing) this.log.warn({ event: 'store.failed' }, `store: renewing this replica's etcd leases failed (${etcdMessage(error)}); etcd deletes the keys they hold if that lasts ${this.ttlSeconds} s`);
        this.logged.failing = true;
        this.schedule(grant, id, this.periodMs());
        return;
      }
      this.warnDropped(`went ${this.ttlSeconds} s without a renewal (${etcdMessage(error)}); the keys they held count as gone, and a heartbeat here takes its instance over again once etcd answers`);
      this.drop(grant);
      return;
    }
    this.onRenewal(true);
    if (!this.grants.includes(grant)) return;
    if (ttl <= 0) {
      this.warnDropped('ran out in etcd; the keys they held are deleted, and other replicas take over what they stood for');
      this.drop(grant);
      return;
    }
    grant.renewedAt = performance.now();
    this.logged = { failing: false, dropped: false };
    this.schedule(grant, id, this.periodMs());
  }

  private warnDropped(what: string): void {
    if (!this.logged.dropped) this.log.warn({ event: 'store.failed' }, `store: leases of this replica's ${what}`);
    this.logged.dropped = true;
  }

  private drop(grant: Grant): void {
    clearTimeout(grant.timer);
    if (grant.granted !== undefined) this.granted.delete(grant.granted);
    const shard = this.grants.indexOf(grant);
    if (shard >= 0) this.grants[shard] = undefined;
  }
}

function shardOf(key: string): number {
  return fnv1a(key) % SHARDS;
}
