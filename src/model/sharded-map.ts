import { fnv1a } from './hash';

/** Past this many keys a ShardedMap spreads them over SHARDS Maps; below, one Map costs less. */
export const SPLIT_AT = 4096;
const SHARD_BITS = 4;
const SHARDS = 1 << SHARD_BITS;

/** FNV-1a of the whole key (a part of it would put every `pod-N.svc.cluster.local` id in one shard); top bits pick the shard. */
function shardOf(key: string): number {
  return fnv1a(key) >>> (32 - SHARD_BITS);
}

/**
 * A Map from string keys for sets that reach a million entries (a service's instances, the
 * store's records). A V8 Map keeps its entries in one table and copies all of them in one step
 * when it grows, and again once deleted entries fill its spare room: 35-80 ms at 1,000,000 keys,
 * with ext_proc's event loop waiting. Past SPLIT_AT keys the entries are spread over 16 Maps by
 * a hash of the key, so each copy is a sixteenth of that. It does not merge back when it
 * shrinks. `entries()` is not in insertion order across shards (its callers group or sort what
 * they read), and a walk begun before the split goes on reading the Map the keys left.
 */
export class ShardedMap<V> {
  private one: Map<string, V> | undefined = new Map();
  private shards: Map<string, V>[] | undefined;
  private count = 0;

  get size(): number {
    return this.one ? this.one.size : this.count;
  }

  get(key: string): V | undefined {
    return this.one ? this.one.get(key) : this.shards![shardOf(key)]!.get(key);
  }

  has(key: string): boolean {
    return this.one ? this.one.has(key) : this.shards![shardOf(key)]!.has(key);
  }

  set(key: string, value: V): this {
    if (this.one) {
      this.one.set(key, value);
      if (this.one.size >= SPLIT_AT) this.split(this.one);
    } else {
      const shard = this.shards![shardOf(key)]!;
      const before = shard.size;
      shard.set(key, value);
      this.count += shard.size - before;
    }
    return this;
  }

  *entries(): IterableIterator<[string, V]> {
    if (this.one) yield* this.one;
    else for (const shard of this.shards!) yield* shard;
  }

  delete(key: string): boolean {
    if (this.one) return this.one.delete(key);
    const deleted = this.shards![shardOf(key)]!.delete(key);
    if (deleted) this.count--;
    return deleted;
  }

  private split(one: Map<string, V>): void {
    const shards = Array.from({ length: SHARDS }, () => new Map<string, V>());
    for (const [key, value] of one) shards[shardOf(key)]!.set(key, value);
    this.shards = shards;
    this.count = one.size;
    this.one = undefined;
  }
}
