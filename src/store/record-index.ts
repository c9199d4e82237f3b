import { ShardedMap } from '../model/sharded-map';

const INITIAL_SLOTS = 1024;
const NONE = -1;

/** Where an `entries()` walk goes next; moved on when that slot leaves its place. */
interface Cursor {
  next: number;
}

/**
 * Where each live key's record is in the embedded store's log, without its value: a map from
 * key to a slot number (sharded, so V8 never copies a million entries in one step), and each
 * slot's byte offset and line length in typed arrays, so a key costs no object of its own.
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
  private readonly keys: (string | undefined)[] = [];
  private offsets: Float64Array = new Float64Array(INITIAL_SLOTS);
  private lengths: Uint32Array = new Uint32Array(INITIAL_SLOTS);
  private before: Int32Array = new Int32Array(INITIAL_SLOTS);
  private after: Int32Array = new Int32Array(INITIAL_SLOTS);
  private first = NONE;
  private last = NONE;
  private readonly cursors = new Set<Cursor>();
  private readonly free: number[] = [];
  private used = 0;
  /** While a compaction runs: where the live records are in the file it writes. */
  private next: { offsets: Float64Array; lengths: Uint32Array } | undefined;
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
    return this.offsets[slot]!;
  }

  length(slot: number): number {
    return this.lengths[slot]!;
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
        cursor.next = this.after[slot]!;
        yield [this.keys[slot]!, slot];
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
      this.keys[slot] = key;
    } else {
      this.unlink(slot);
      this.live -= this.lengths[slot]!;
    }
    this.append(slot);
    this.offsets[slot] = offset;
    this.lengths[slot] = length;
    this.live += length;
  }

  delete(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    this.unlink(slot);
    this.keys[slot] = undefined;
    this.live -= this.lengths[slot]!;
    this.lengths[slot] = 0;
    if (this.next) this.next.lengths[slot] = 0; // a free slot counts no bytes in the next file either
    this.free.push(slot);
    return true;
  }

  private append(slot: number): void {
    this.before[slot] = this.last;
    this.after[slot] = NONE;
    if (this.last === NONE) this.first = slot;
    else this.after[this.last] = slot;
    this.last = slot;
  }

  private unlink(slot: number): void {
    const before = this.before[slot]!;
    const after = this.after[slot]!;
    if (this.cursors.size > 0) for (const cursor of this.cursors) if (cursor.next === slot) cursor.next = after;
    if (before === NONE) this.first = after;
    else this.after[before] = after;
    if (after === NONE) this.last = before;
    else this.before[after] = before;
  }

  /** Starts collecting the live records' positions in a compacted file. */
  beginRelocation(): void {
    this.next = { offsets: new Float64Array(this.offsets.length), lengths: new Uint32Array(this.lengths.length) };
  }

  /** Where the slot's record is in the compacted file; a later call for the same slot wins. */
  relocate(slot: number, offset: number, length: number): void {
    this.next!.offsets[slot] = offset;
    this.next!.lengths[slot] = length;
  }

  /** The compacted file is the log now: every live slot must have been relocated. */
  finishRelocation(): void {
    const next = this.next!;
    this.next = undefined;
    this.offsets = next.offsets;
    this.lengths = next.lengths;
    let live = 0;
    for (let slot = 0; slot < this.used; slot++) live += next.lengths[slot]!; // free slots hold 0
    this.live = live;
  }

  abandonRelocation(): void {
    this.next = undefined;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.offsets.length) {
      this.offsets = grown(this.offsets, new Float64Array(this.offsets.length * 2));
      this.lengths = grown(this.lengths, new Uint32Array(this.lengths.length * 2));
      this.before = grown(this.before, new Int32Array(this.before.length * 2));
      this.after = grown(this.after, new Int32Array(this.after.length * 2));
      if (this.next) {
        this.next = { offsets: grown(this.next.offsets, new Float64Array(this.offsets.length)), lengths: grown(this.next.lengths, new Uint32Array(this.lengths.length)) };
      }
    }
    return this.used++;
  }
}

function grown<T extends Float64Array | Uint32Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
