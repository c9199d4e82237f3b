import { ShardedMap } from '../../src/model/sharded-map';

describe('ShardedMap', () => {
  it('answers as a Map does through random sets and deletes, below and past the point where it shards', () => {
    const sharded = new ShardedMap<number>();
    const reference = new Map<string, number>();
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let step = 0; step < 60000; step++) {
      const key = `default/svc/i${random(step < 30000 ? 20000 : 3000)}`; // grows past the threshold, then shrinks below it
      if (random(3) === 0) expect(sharded.delete(key)).toBe(reference.delete(key));
      else {
        expect(sharded.set(key, step)).toBe(sharded);
        reference.set(key, step);
      }
      if (step % 997 === 0) {
        expect(sharded.size).toBe(reference.size);
        expect(new Map(sharded.entries())).toEqual(reference);
      }
    }
    for (const [key, value] of reference) {
      expect(sharded.get(key)).toBe(value);
      expect(sharded.has(key)).toBe(true);
    }
    expect(sharded.get('absent')).toBeUndefined();
    expect(sharded.has('absent')).toBe(false);
    expect(sharded.size).toBe(reference.size);
  });

  it('keeps insertion order while it is one Map, and keys that differ only in non-ASCII characters apart', () => {
    const map = new ShardedMap<string>();
    for (const key of ['b', 'a', 'é', 'e\u0301', '日本']) map.set(key, key.toUpperCase());
    expect([...map.entries()].map(([k]) => k)).toEqual(['b', 'a', 'é', 'e\u0301', '日本']);
    expect(map.get('é')).toBe('É');
    expect(map.get('e\u0301')).toBe('E\u0301');
    map.set('b', 'again');
    expect(map.size).toBe(5);
  });
});
