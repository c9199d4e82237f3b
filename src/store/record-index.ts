import { PagedArray } from '../model/paged-array';
import { ShardedMap } from '../model/sharded-map';

const NONE = -1;

/** Where records are in one log file, by slot. */
interface Positions {
  readonly offsets: PagedArray<number>;
  readonly lengths: PagedArray<number>;
}

function positions(capacity: number): Positions {
  const offsets = new PagedArray<number>((n) => new Float64Array(n));
  // Int32 like the links (a line is far below 2 GiB): PagedArray's accessors then see three kinds
  // of page, not four, which made them megamorphic (1.7x the time per write).
  const lengths = new PagedArray<number>((n) => new Int32Array(n));
  offsets.growTo(capacity);
  lengths.growTo(capacity);
  return { offsets, lengths };
}

/** Where an `entries()` walk goes next; moved on when that slot leaves its place. */
interface Cursor {
  next: number;
}

/**
 * Where each live key's record is in the embedded store's log, without its value: a map from
 * key to a slot number (sharded, so V8 never copies a million entries in one step), and each
 * slot's byte offset and line length in typed arrays, so a key costs no object of its own. The
 * arrays grow by pages (`PagedArray`), never by copying a million entries in one step.
 *
 * The slots are also linked in the log's order (`before`/`after`), so reading records in that
 * order reads the file front to back. A key written again keeps its slot and its map entry and
 * moves to the end of the links: a rewrite, the most common write under churn, leaves no
 * deleted entry for V8 to clear by copying a Map. A compaction
 * relocates every live record into the next file's arrays, swapped in at once when that file
 * replaces the log.
 */
export class RecordIndex {
  private readonly slots = new ShardedMap<number>();
  private readonly keys = new PagedArray<string | undefined>((n) => new Array<string | undefined>(n));
  private current = positions(0);
  private readonly before = new PagedArray<number>((n) => new Int32Array(n));
  private readonly after = new PagedArray<number>((n) => new Int32Array(n));
  private first = NONE;
  private last = NONE;
  private readonly cursors = new Set<Cursor>();
  private readonly free: number[] = [];
  private used = 0;
  /** While a compaction runs: where the live records are in the file it writes. */
  private next: Positions | undefined;
  private live = 0;

  get size(): number {
    return this.slots.size;
  }

  /** Bytes of the live keys' lines in the log. */
  get liveBytes(): number {
    return this.live;
  }

  has(key: string): boolean {
    return this.slots.has(key);
  }

  slotOf(key: string): number | undefined {
    return this.slots.get(key);
  }

  offset(slot: number): number {
    return this.current.offsets.get(slot);
  }

  length(slot: number): number {
    return this.current.lengths.get(slot);
  }

  /**
   * Key and slot of every live key, in log order. Keys may change during the walk: it sees each
   * key that stays in place; one written again or added meanwhile may or may not be seen (again),
   * so a caller collects the writes made while it walks. End an unfinished walk with `return()`.
   */
  *entries(): Generator<[string, number], void, undefined> {
    const cursor: Cursor = { next: this.first };
    this.cursors.add(cursor);
    try {
      while (cursor.next !== NONE) {
        const slot = cursor.next;
        cursor.next = this.after.get(slot);
        yield [this.keys.get(slot)!, slot];
      }
    } finally {
      this.cursors.delete(cursor);
    }
  }

  /** The key's record is now the line at `offset`, `length` bytes long. */
  set(key: string, offset: number, length: number): void {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.allocate();
      this.slots.set(key, slot);
      this.keys.set(slot, key);
    } else {
      this.unlink(slot);
      this.live -= this.current.lengths.get(slot);
    }
    this.append(slot);
    this.current.offsets.set(slot, offset);
    this.current.lengths.set(slot, length);
    this.live += length;
  }

  delete(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    this.unlink(slot);
    this.keys.set(slot, undefined);
    this.live -= this.current.lengths.get(slot);
    this.current.lengths.set(slot, 0);
    this.next?.lengths.set(slot, 0); // a free slot counts no bytes in the next file either
    this.free.push(slot);
    return true;
  }

  private append(slot: number): void {
    this.before.set(slot, this.last);
    this.after.set(slot, NONE);
    if (this.last === NONE) this.first = slot;
    else this.after.set(this.last, slot);
    this.last = slot;
  }

  private unlink(slot: number): void {
    const before = this.before.get(slot);
    const after = this.after.get(slot);
    if (this.cursors.size > 0) for (const cursor of this.cursors) if (cursor.next === slot) cursor.next = after;
    if (before === NONE) this.first = after;
    else this.after.set(before, after);
    if (after === NONE) this.last = before;
    else this.before.set(after, before);
  }

  /** Starts collecting the live records' positions in a compacted file. */
  beginRelocation(): void {
    this.next = positions(this.current.offsets.capacity);
  }

  /** Where the slot's record is in the compacted file; a later call for the same slot wins. */
  relocate(slot: number, offset: number, length: number): void {
    this.next!.offsets.set(slot, offset);
    this.next!.lengths.set(slot, length);
  }

  /** The compacted file is the log now: every live slot must have been relocated. */
  finishRelocation(): void {
    const next = this.next!;
    this.next = undefined;
    this.current = next;
    let live = 0;
    for (let slot = 0; slot < this.used; slot++) live += next.lengths.get(slot); // free slots hold 0
    this.live = live;
  }

  abandonRelocation(): void {
    this.next = undefined;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const slot = this.used++;
    if (this.used > this.before.capacity) {
      for (const column of [this.keys, this.current.offsets, this.current.lengths, this.before, this.after, this.next?.offsets, this.next?.lengths]) column?.growTo(this.used);
    }
    return slot;
  }
}
