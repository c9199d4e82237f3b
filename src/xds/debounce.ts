export type ChangedServices = ReadonlySet<string> | 'all';

/** Push debounce defaults: wait for a quiet 20 ms, but push at least once a second under steady change. */
export const DEFAULT_DEBOUNCE_MS = 20;
export const DEFAULT_MAX_DEBOUNCE_MS = 1000;

/**
 * Coalesces change notifications: flushes `waitMs` after the last change, but never later than
 * `maxWaitMs` after the first unflushed one, so a steady trickle of changes cannot starve pushes.
 */
export class Debouncer {
  private pending: Set<string> | 'all' | undefined;
  private firstAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly waitMs: number,
    private readonly maxWaitMs: number,
    /** Gets the changes and when the first of them arrived (ms since the epoch). */
    private readonly flush: (changed: ChangedServices, since: number) => void,
  ) {}

  add(changed: ChangedServices): void {
    const now = Date.now();
    if (this.pending === undefined) {
      this.firstAt = now;
      this.pending = changed === 'all' ? 'all' : new Set(changed);
    } else if (this.pending !== 'all') {
      if (changed === 'all') this.pending = 'all';
      else for (const key of changed) this.pending.add(key);
    }
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(this.waitMs, this.firstAt + this.maxWaitMs - now));
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private fire(): void {
    const pending = this.pending;
    this.timer = undefined;
    this.pending = undefined;
    if (pending !== undefined) this.flush(pending, this.firstAt);
  }
}
