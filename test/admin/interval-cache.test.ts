import { IntervalCache } from '../../src/admin/interval-cache';

describe('IntervalCache (what consoles poll, computed once per interval)', () => {
  it('computes a key once per interval, however many callers read it', () => {
    let now = 10_000;
    const cache = new IntervalCache<number>(1000, 10, () => now);
    let computed = 0;
    const read = () => cache.get('split default/shop', () => ++computed);
    for (let i = 0; i < 100; i++) expect(read()).toBe(1);
    now += 999;
    expect(read()).toBe(1);
    now += 1;
    expect(read()).toBe(2);
    expect(cache.get('other', () => 42)).toBe(42);
    expect(computed).toBe(2);
  });

  it('shares a computation still running past its interval, and keeps its answer for the interval it finished in', async () => {
    let now = 10_000;
    const cache = new IntervalCache<Promise<number>>(1000, 10, () => now);
    let started = 0;
    let finish!: (n: number) => void;
    const read = () => cache.get('subsets default/shop', () => new Promise<number>((resolve) => ((finish = resolve), started++)));
    const first = read();
    now += 3500; // the computation takes three intervals and more
    expect(read()).toBe(first);
    expect(started).toBe(1);
    finish(7);
    expect(await first).toBe(7);
    expect(read()).toBe(first); // ready in this interval
    now += 1000;
    void read();
    expect(started).toBe(2);
  });

  it('starts over when it holds maxKeys keys', () => {
    const cache = new IntervalCache<string>(1000, 2, () => 0);
    cache.get('a', () => 'a1');
    cache.get('b', () => 'b1');
    cache.get('c', () => 'c1');
    expect(cache.get('a', () => 'a2')).toBe('a2');
    expect(cache.get('c', () => 'c2')).toBe('c1');
  });
});
