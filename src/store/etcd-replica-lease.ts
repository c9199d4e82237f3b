import { performance } from 'node:perf_hooks';
import type { LeaseClient } from 'etcd3';
import type { Logger } from '../log/logger';
import type { LeaseKeepAlives } from './etcd-keepalive';

interface Grant {
  readonly id: Promise<string>;
  granted?: string;
  /** When etcd last confirmed it (performance.now()). */
  renewedAt: number;
  renewal?: NodeJS.Timeout;
  /** A failed renewal was logged; the next success clears it (one warning per outage). */
  failing?: boolean;
}

/**
 * This replica's etcd lease, which the keys it holds are bound to: granted at the first use,
 * renewed every third of its TTL over the keepalive stream, revoked on close. One etcd let run
 * out, or that went a whole TTL without a renewal (cut off: etcd has let it run out, unless a
 * new leader extended it), is dropped, and the next use grants another.
 */
export class ReplicaLease {
  private grant: Grant | undefined;
  private closed = false;

  constructor(
    private readonly leases: LeaseClient,
    private readonly keepAlives: LeaseKeepAlives,
    private readonly ttlSeconds: number,
    private readonly log: Logger,
    /** After each renewal: false when it failed (etcd is out as far as this replica can tell). */
    private readonly onRenewal: (renewed: boolean) => void,
  ) {}

  /** The lease's id, granted first if there is none. */
  id(): Promise<string> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    if (this.grant) return this.grant.id;
    const grant: Grant = { id: this.leases.leaseGrant({ TTL: this.ttlSeconds, ID: 0 }).then(({ ID }) => ID), renewedAt: performance.now() };
    this.grant = grant;
    grant.id.then(
      (granted) => {
        if (this.grant !== grant) return; // closed meanwhile: close() revokes it
        grant.granted = granted;
        grant.renewedAt = performance.now();
        grant.renewal = setInterval(() => void this.renew(grant, granted), (this.ttlSeconds * 1000) / 3);
        grant.renewal.unref();
      },
      () => this.drop(grant),
    );
    return grant.id;
  }

  /** The id while etcd is known to keep it (renewed within its TTL); undefined otherwise. */
  held(): string | undefined {
    const grant = this.grant;
    if (grant?.granted === undefined || performance.now() - grant.renewedAt >= this.ttlSeconds * 1000) return undefined;
    return grant.granted;
  }

  /** etcd refused a put on `id` (lease not found): the next use grants another. */
  lost(id: string): void {
    if (this.grant?.granted === id) this.drop(this.grant);
  }

  /** Revokes it, so the keys bound to it go at once rather than a TTL later. */
  async close(): Promise<void> {
    this.closed = true;
    const grant = this.grant;
    if (!grant) return;
    this.drop(grant);
    const ID = await grant.id;
    await this.leases.leaseRevoke({ ID });
  }

  private async renew(grant: Grant, id: string): Promise<void> {
    let ttl: number;
    try {
      ttl = await this.keepAlives.renew(id);
    } catch (error) {
      this.onRenewal(false);
      if (this.grant !== grant) return;
      if (performance.now() - grant.renewedAt < this.ttlSeconds * 1000) {
        if (!grant.failing) this.log.warn({ event: 'store.failed' }, `store: renewing this replica's etcd lease failed (${(error as Error).message}); etcd deletes the keys it holds if that lasts ${this.ttlSeconds} s`);
        grant.failing = true;
        return;
      }
      this.log.warn({ event: 'store.failed' }, `store: this replica's etcd lease went ${this.ttlSeconds} s without a renewal (${(error as Error).message}); the keys it held count as gone, and a heartbeat here takes its instance over again once etcd answers`);
      this.drop(grant);
      return;
    }
    this.onRenewal(true);
    if (this.grant !== grant) return;
    if (ttl > 0) {
      grant.renewedAt = performance.now();
      grant.failing = false;
      return;
    }
    this.log.warn({ event: 'store.failed' }, "store: etcd let this replica's lease run out; the keys it held are deleted, and other replicas take over what they stood for");
    this.drop(grant);
  }

  private drop(grant: Grant): void {
    clearInterval(grant.renewal);
    if (this.grant === grant) this.grant = undefined;
  }
}
