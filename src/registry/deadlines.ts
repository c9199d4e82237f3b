/**
 * A binary min-heap of (deadline, item): `due(now)` pops what is due, so checking costs
 * what expires, not what exists. Entries are never updated in place: the owner keeps each
 * item's current deadline, and an item popped early (its deadline moved on) is pushed again.
 */
export class DeadlineHeap<T> {
  private readonly at: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.at.length;
  }

  push(deadline: number, item: T): void {
    let i = this.at.length;
    this.at.push(deadline);
    this.items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.at[parent]! <= deadline) break;
      this.move(parent, i);
      i = parent;
    }
    this.at[i] = deadline;
    this.items[i] = item;
  }

  /** The earliest deadline, or Infinity when empty. */
  peek(): number {
    return this.at.length > 0 ? this.at[0]! : Infinity;
  }

  /** Removes and returns the item with the earliest deadline. */
  pop(): T | undefined {
    if (this.at.length === 0) return undefined;
    const top = this.items[0];
    const lastAt = this.at.pop()!;
    const lastItem = this.items.pop()!;
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
      this.items[i] = lastItem;
    }
    return top;
  }

  private move(from: number, to: number): void {
    this.at[to] = this.at[from]!;
    this.items[to] = this.items[from]!;
  }
}
