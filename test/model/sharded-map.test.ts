import { ShardedMap, SPLIT_AT } from '../../src/model/sharded-map';

/** A small deterministic generator, so a failure repeats. */
function random(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

describe('ShardedMap', () => {
  it('answers as a Map does through random sets and deletes across the split and back below it', () => {
    const next = random(7);
    const sharded = new ShardedMap<number>();
    const plain = new Map<string, number>();
    const keyOf = (n: number): string => `pod-${n}.shop.default.svc.cluster.local:8080`;
    const universe = 3 * SPLIT_AT;
    // Grow past the split, churn, then shrink well below it: every step checked against a Map.
    for (const [steps, addShare] of [[4 * SPLIT_AT, 0.8], [2 * SPLIT_AT, 0.5], [12 * SPLIT_AT, 0.05]] as const) {
      const mismatches: string[] = [];
      for (let step = 0; step < steps; step++) {
        const key = keyOf(Math.floor(next() * universe));
        if (next() < addShare) {
          if (sharded.set(key, step) !== sharded) mismatches.push(`set ${key} did not return the map`);
          plain.set(key, step);
        } else if (sharded.delete(key) !== plain.delete(key)) {
          mismatches.push(`delete ${key}`);
        }
        if (sharded.size !== plain.size) mismatches.push(`size ${sharded.size} after step ${step}, not ${plain.size}`);
      }
      for (let n = 0; n < universe; n++) {
        const key = keyOf(n);
        if (sharded.get(key) !== plain.get(key) || sharded.has(key) !== plain.has(key)) mismatches.push(`get ${key}`);
      }
      expect(mismatches.slice(0, 5)).toEqual([]);
    }
    expect(plain.size).toBeLessThan(SPLIT_AT / 2);
  });

  it('spreads keys that differ only in a few middle characters over its shards', () => {
    const sharded = new ShardedMap<number>();
    for (let n = 0; n < 2 * SPLIT_AT; n++) sharded.set(`pod-${n}.shop.default.svc.cluster.local:8080`, n);
    const sizes = (sharded as unknown as { shards: Map<string, number>[] }).shards.map((shard) => shard.size);
    expect(sizes).toHaveLength(16);
    const even = (2 * SPLIT_AT) / 16;
    expect(Math.min(...sizes)).toBeGreaterThan(0.8 * even);
    expect(Math.max(...sizes)).toBeLessThan(1.2 * even);
  });
});
