import { performance } from 'node:perf_hooks';
import type { LeaseClient } from 'etcd3';
import type { Logger } from '../log/logger';
import { fnv1a } from '../model/hash';
import type { LeaseKeepAlives } from './etcd-keepalive';

/**
 * A replica's held keys are spread over this many leases by a hash of the key. When a replica
 * stops, etcd deletes what a lease held at one revision, and every other replica decodes and
 * applies that revision in one go: 100,000 keys on one lease held another replica's event loop
 * 593 ms (20,000: 133 ms). Spread over 256, a lease holds about 390 of 100,000: 11–12 ms when
 * the replica closed, 15 ms when it was killed (its leases ran out one by one).
 */
const SHARDS = 256;
/** Between two revocations on close, so the other replicas apply one lease's deletes at a time. */
const REVOKE_GAP_MS = 2;

interface Grant {
  readonly id: Promise<string>;
  granted?: string;
  /** When etcd last confirmed it (performance.now()). */
  renewedAt: number;
  /** A failed renewal was logged; the next success clears it (one warning per outage). */
  failing?: boolean;
}

/**
 * This replica's etcd leases, which the keys it holds are bound to: granted at first use, renewed
 * in turn (one every third of the TTL / SHARDS, so after a crash they run out spread over a third
 * of the TTL, not at once), revoked one after another on close (the store gives that 2 s; the
 * rest run out). One etcd let run out, or that went a whole TTL without a renewal (cut off: etcd
 * has let it run out, unless a new leader extended it), is dropped, and the next use grants
 * another.
 */
export class ReplicaLeases {
  private readonly grants: Array<Grant | undefined> = new Array<Grant | undefined>(SHARDS).fill(undefined);
  private renewal: NodeJS.Timeout | undefined;
  private nextRenewal = 0;
  private closed = false;

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
      (granted) => {
        grant.granted = granted;
        grant.renewedAt = performance.now();
      },
      () => this.drop(grant),
    );
    this.renewal ??= setInterval(() => this.renewNext(), (this.ttlSeconds * 1000) / 3 / SHARDS).unref();
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
    return this.grants.some((grant) => grant?.granted === id);
  }

  /** etcd refused a put on `id` (lease not found): the next use grants another. */
  lost(id: string): void {
    const grant = this.grants.find((g) => g?.granted === id);
    if (grant) this.drop(grant);
  }

  /** Revokes them one after another, so the keys they hold go now rather than a TTL later. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.renewal);
    const grants = this.grants.splice(0, SHARDS).filter((grant): grant is Grant => grant !== undefined);
    for (const grant of grants) {
      const ID = await grant.id.catch(() => undefined);
      if (ID === undefined) continue;
      await this.leases.leaseRevoke({ ID });
      await new Promise((resolve) => setTimeout(resolve, REVOKE_GAP_MS));
    }
  }

  private renewNext(): void {
    const grant = this.grants[this.nextRenewal];
    this.nextRenewal = (this.nextRenewal + 1) % SHARDS;
    if (grant?.granted !== undefined) void this.renew(grant, grant.granted);
  }

  private async renew(grant: Grant, id: string): Promise<void> {
    let ttl: number;
    try {
      ttl = await this.keepAlives.renew(id);
    } catch (error) {
      this.onRenewal(false);
      if (!this.grants.includes(grant)) return;
      if (performance.now() - grant.renewedAt < this.ttlSeconds * 1000) {
        if (!grant.failing) this.log.warn({ event: 'store.failed' }, `store: renewing one of this replica's etcd leases failed (${(error as Error).message}); etcd deletes the keys it holds if that lasts ${this.ttlSeconds} s`);
        grant.failing = true;
        return;
      }
      this.log.warn({ event: 'store.failed' }, `store: one of this replica's etcd leases went ${this.ttlSeconds} s without a renewal (${(error as Error).message}); the keys it held count as gone, and a heartbeat here takes its instance over again once etcd answers`);
      this.drop(grant);
      return;
    }
    this.onRenewal(true);
    if (!this.grants.includes(grant)) return;
    if (ttl > 0) {
      grant.renewedAt = performance.now();
      grant.failing = false;
      return;
    }
    this.log.warn({ event: 'store.failed' }, "store: etcd let one of this replica's leases run out; the keys it held are deleted, and other replicas take over what they stood for");
    this.drop(grant);
  }

  private drop(grant: Grant): void {
    const shard = this.grants.indexOf(grant);
    if (shard >= 0) this.grants[shard] = undefined;
  }
}

function shardOf(key: string): number {
  return fnv1a(key) % SHARDS;
}
