const INITIAL_SLOTS = 1024;

/**
 * Where each live key's record is in the embedded store's log, without its value: a Map from
 * key to a slot number, and each slot's byte offset and line length in typed arrays, so a key
 * costs no object of its own (at 1,000,000 keys about 32 bytes each beside the key string,
 * against about 48 for a Map of offset and length packed into one number, which V8 boxes).
 *
 * The Map's order is the log's order: a key written again moves to the end, so reading records
 * in Map order reads the file front to back. A compaction relocates every live record into the
 * next file's arrays, swapped in at once when that file replaces the log.
 */
export class RecordIndex {
  private readonly slots = new Map<string, number>();
  private offsets: Float64Array = new Float64Array(INITIAL_SLOTS);
  private lengths: Uint32Array = new Uint32Array(INITIAL_SLOTS);
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

  /** Key and slot of every live key, in log order; iterating it while keys change is safe (a Map iterator). */
  entries(): IterableIterator<[string, number]> {
    return this.slots.entries();
  }

  /** The key's record is now the line at `offset`, `length` bytes long. */
  set(key: string, offset: number, length: number): void {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.allocate();
    } else {
      this.slots.delete(key); // re-inserted below: the Map's order stays the log's order
      this.live -= this.lengths[slot]!;
    }
    this.slots.set(key, slot);
    this.offsets[slot] = offset;
    this.lengths[slot] = length;
    this.live += length;
  }

  delete(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    this.live -= this.lengths[slot]!;
    this.lengths[slot] = 0;
    if (this.next) this.next.lengths[slot] = 0; // a free slot counts no bytes in the next file either
    this.free.push(slot);
    return true;
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
      if (this.next) {
        this.next = { offsets: grown(this.next.offsets, new Float64Array(this.offsets.length)), lengths: grown(this.next.lengths, new Uint32Array(this.lengths.length)) };
      }
    }
    return this.used++;
  }
}

function grown<T extends Float64Array | Uint32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
