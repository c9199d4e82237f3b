import { Debouncer, type ChangedServices } from '../../src/xds/debounce';

describe('Debouncer', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('merges a burst into one flush after the quiet time', () => {
    const flushed: ChangedServices[] = [];
    const d = new Debouncer(20, 1000, (c) => flushed.push(c));
    d.add(new Set(['a']));
    jest.advanceTimersByTime(10);
    d.add(new Set(['b']));
    jest.advanceTimersByTime(19);
    expect(flushed).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(flushed).toEqual([new Set(['a', 'b'])]);
  });

  it('lets "all" absorb key sets', () => {
    const flushed: ChangedServices[] = [];
    const d = new Debouncer(5, 100, (c) => flushed.push(c));
    d.add(new Set(['a']));
    d.add('all');
    d.add(new Set(['b']));
    jest.advanceTimersByTime(5);
    expect(flushed).toEqual(['all']);
  });

  it('flushes by the maximum wait while changes keep coming', () => {
    const flushed: number[] = [];
    const d = new Debouncer(20, 100, () => flushed.push(Date.now()));
    const start = Date.now();
    for (let t = 0; t < 250; t += 10) {
      d.add(new Set([`k${t}`]));
      jest.advanceTimersByTime(10);
    }
    expect(flushed.length).toBeGreaterThanOrEqual(2);
    expect(flushed[0]! - start).toBeLessThanOrEqual(100);
    d.close();
  });
});
