/**
 * One computation per key per interval, shared by every caller in it: what a console polls
 * (the live split, the proxy list) costs the server the same for one open console or a
 * hundred. Keys are few (services being watched); an entry older than the interval is
 * recomputed on its next read, and the map is emptied when it grows past `maxKeys`.
 */
export class IntervalCache<T> {
  private readonly entries = new Map<string, { at: number; value: T; pending: boolean }>();

  constructor(
    private readonly intervalMs: number,
    private readonly maxKeys = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A promise still pending is shared past its interval: a computation longer than one is not started again beside it. */
  get(key: string, compute: () => T): T {
    const interval = Math.floor(this.now() / this.intervalMs);
    const entry = this.entries.get(key);
    if (entry && (entry.at === interval || entry.pending)) return entry.value;
    if (this.entries.size >= this.maxKeys) this.entries.clear();
    const value = compute();
    const fresh = { at: interval, value, pending: value instanceof Promise };
    if (value instanceof Promise) {
      const settled = () => {
        fresh.pending = false;
        fresh.at = Math.floor(this.now() / this.intervalMs); // fresh from when it is ready
      };
      value.then(settled, settled);
    }
    this.entries.set(key, fresh);
    return value;
  }
}
