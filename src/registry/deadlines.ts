/**
 * A binary min-heap of (deadline, a, b), in three parallel arrays (no object per entry): `due(now)` pops what is due, so checking costs
 * what expires, not what exists. Entries are never updated in place: the owner keeps each
 * item's current deadline, and an item popped early (its deadline moved on) is pushed again.
 */
export class DeadlineHeap<A, B> {
  private readonly at: number[] = [];
  private readonly as: A[] = [];
  private readonly bs: B[] = [];

  get size(): number {
    return this.at.length;
  }

  push(deadline: number, a: A, b: B): void {
    let i = this.at.length;
    this.at.push(deadline);
    this.as.push(a);
    this.bs.push(b);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.at[parent]! <= deadline) break;
      this.move(parent, i);
      i = parent;
    }
    this.at[i] = deadline;
    this.as[i] = a;
    this.bs[i] = b;
  }

  /** The earliest deadline, or Infinity when empty. */
  peek(): number {
    return this.at.length > 0 ? this.at[0]! : Infinity;
  }

  /** Removes and returns the entry with the earliest deadline. */
  pop(): [A, B] | undefined {
    if (this.at.length === 0) return undefined;
    const top: [A, B] = [this.as[0]!, this.bs[0]!];
    const lastAt = this.at.pop()!;
    const lastA = this.as.pop()!;
    const lastB = this.bs.pop()!;
    const n = this.at.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && this.at[right]! < this.at[left]! ? right : left;
        if (this.at[child]! >= lastAt) break;
        this.move(child, i);
        i = child;
      }
      this.at[i] = lastAt;
      this.as[i] = lastA;
      this.bs[i] = lastB;
    }
    return top;
  }

  private move(from: number, to: number): void {
    this.at[to] = this.at[from]!;
    this.as[to] = this.as[from]!;
    this.bs[to] = this.bs[from]!;
  }
}
