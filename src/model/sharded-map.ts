/** Up to this many entries, one Map. */
const SHARD_FROM = 4096;
/** Past it, this many Maps (a power of two): a million entries are about 16,000 per Map. */
const SHARDS = 64;

/**
 * A Map from string keys that never rehashes more than a slice of its entries at once. A V8
 * Map copies all of its entries in one step when it grows, and again once deletions have used
 * up its spare capacity: at 100,000 entries under delete-and-insert churn one insertion took
 * 25 ms, at 1,000,000 104 ms (growth alone: 7 and 67 ms), the event loop held throughout.
 * Past SHARD_FROM entries the keys are spread by hash over SHARDS Maps, so such a step copies
 * a 64th of them. Iteration order is not insertion order once sharded.
 */
export class ShardedMap<V> {
  private single: Map<string, V> | undefined = new Map();
  private shards: Map<string, V>[] | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.mapOf(key).get(key);
  }

  has(key: string): boolean {
    return this.mapOf(key).has(key);
  }

  set(key: string, value: V): this {
    const map = this.mapOf(key);
    const size = map.size;
    map.set(key, value);
    if (map.size > size && ++this.count >= SHARD_FROM && this.single) this.shard(this.single);
    return this;
  }

  delete(key: string): boolean {
    const deleted = this.mapOf(key).delete(key);
    if (deleted) this.count--;
    return deleted;
  }

  *entries(): IterableIterator<[string, V]> {
    if (this.single) yield* this.single.entries();
    else for (const shard of this.shards!) yield* shard.entries();
  }

  private mapOf(key: string): Map<string, V> {
    return this.single ?? this.shards![shardOf(key)]!;
  }

  /** One step of SHARD_FROM entries, once (about a millisecond; up to 9 while its code is still cold). */
  private shard(single: Map<string, V>): void {
    this.shards = Array.from({ length: SHARDS }, () => new Map<string, V>());
    this.single = undefined;
    for (const [key, value] of single) this.shards[shardOf(key)]!.set(key, value);
  }
}

/** Keys that differ tell apart in their ends (ids, paths ending in one): only the last 12 code units are hashed. */
const HASHED_TAIL = 12;

function shardOf(key: string): number {
  let hash = 0x811c9dc5 ^ key.length;
  for (let i = Math.max(0, key.length - HASHED_TAIL); i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash ^ (hash >>> 16)) & (SHARDS - 1);
}
