/** The entries due at one tick, in two parallel arrays (no object per entry). */
interface Bucket<A, B> {
  readonly as: A[];
  readonly bs: B[];
}

/**
 * (deadline, a, b) entries by deadline, a bucket per tick (a timer wheel without a rim): `pop(now)`
 * takes what is due, so checking costs what expires, not what exists, and an array holds only
 * the leases queued in one tick (a million-entry heap's arrays were copied whole as they grew).
 * Entries are never updated in place: the owner keeps each item's current deadline, and an item
 * popped early (its deadline moved on) is pushed again. Within a tick, entries come in no order.
 */
export class DeadlineWheel<A, B> {
  private readonly buckets = new Map<number, Bucket<A, B>>();
  /** No bucket before this tick holds entries. */
  private cursor = 0;

  /** `deadline` in ticks (integers); one already past is due at the next `pop`. */
  push(deadline: number, a: A, b: B): void {
    const tick = Math.max(deadline, this.cursor);
    let bucket = this.buckets.get(tick);
    if (!bucket) this.buckets.set(tick, (bucket = { as: [], bs: [] }));
    bucket.as.push(a);
    bucket.bs.push(b);
  }

  /** Whether an entry with a deadline at or before `now` is waiting. */
  hasDue(now: number): boolean {
    return this.dueBucket(now) !== undefined;
  }

  /** Removes and returns an entry with a deadline at or before `now`, or undefined. */
  pop(now: number): [A, B] | undefined {
    const bucket = this.dueBucket(now);
    return bucket && [bucket.as.pop()!, bucket.bs.pop()!];
  }

  /**
   * The earliest non-empty bucket at or before `now`. The cursor steps over empty ticks (a few per
   * 100 ms tick) or, past a gap longer than the buckets are many, jumps to the earliest bucket;
   * it never passes `now`, so a deadline of `now` pushed next is due at `now`. Only the bucket at
   * the cursor can be empty (`pop` takes from it), so a call scans the buckets at most twice.
   */
  private dueBucket(now: number): Bucket<A, B> | undefined {
    for (;;) {
      if (this.buckets.size === 0) {
        this.cursor = Math.max(this.cursor, now); // so that a walk never covers a long idle time
        return undefined;
      }
      if (now - this.cursor > this.buckets.size) this.cursor = this.earliest();
      if (this.cursor >= now && !this.buckets.get(now)?.as.length) {
        this.cursor = now;
        return undefined;
      }
      const bucket = this.buckets.get(this.cursor);
      if (bucket && bucket.as.length > 0) return bucket;
      if (bucket) this.buckets.delete(this.cursor);
      this.cursor++;
    }
  }

  private earliest(): number {
    let earliest = Infinity;
    for (const tick of this.buckets.keys()) if (tick < earliest) earliest = tick;
    return earliest;
  }
}
