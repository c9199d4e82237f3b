import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, LeaseClient } from 'etcd3';

/**
 * Lease renewals over one long-lived LeaseKeepAlive stream instead of a stream per
 * heartbeat. etcd answers a stream's requests one by one in order, so each answer settles
 * the oldest waiting renewal. A failed or silent stream fails every waiting renewal and
 * is replaced on the next one (possibly on another member).
 */
export class LeaseKeepAlives {
  private stream: Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>> | undefined;
  private waiting: Array<{ resolve: (ttl: number) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }> = [];

  constructor(private readonly leases: LeaseClient, private readonly timeoutMs: number) {}

  /** The lease's remaining TTL in seconds after the renewal; 0 when etcd no longer has it. */
  async renew(leaseId: string): Promise<number> {
    const opened = (this.stream ??= this.open());
    const stream = await opened;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.reset(opened, new Error(`lease keepalive got no answer in ${this.timeoutMs} ms`)), this.timeoutMs);
      this.waiting.push({ resolve, reject, timer });
      stream.write({ ID: leaseId });
    });
  }

  close(): void {
    if (this.stream) this.reset(this.stream, new Error('store is closed'));
  }

  private open(): Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>> {
    const opened = this.leases.leaseKeepAlive().then((stream) => {
      stream.on('data', (answer) => {
        if (this.stream !== opened) return;
        const next = this.waiting.shift();
        if (!next) return;
        clearTimeout(next.timer);
        next.resolve(Number(answer.TTL));
      });
      stream.on('error', (error) => this.reset(opened, error));
      stream.on('end', () => this.reset(opened, new Error('etcd ended the lease keepalive stream')));
      return stream;
    });
    opened.catch(() => {
      if (this.stream === opened) this.stream = undefined;
    });
    return opened;
  }

  /** Drops `stream` if it is still the current one (a replaced stream's late events change nothing). */
  private reset(stream: Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>>, error: Error): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    void stream.then((s) => s.cancel(), () => undefined);
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(error);
    }
  }
}
