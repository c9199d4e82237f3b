import { DecisionSplit, SPLIT_SECONDS, sumSplits } from '../../src/metrics/decision-split';
import type { Decision } from '../../src/model/decision';

describe('DecisionSplit (the console\'s live split)', () => {
  let now = 1_000_000_000_000;
  let split: DecisionSplit;
  beforeEach(() => {
    now = 1_000_000_000_000;
    split = new DecisionSplit(() => now);
  });
  afterEach(() => split.close());

  const v1: Decision = { kind: 'subset', labels: { version: 'v1' } };
  const v2: Decision = { kind: 'subset', labels: { version: 'v2', env: 'gray' } };

  it('counts decisions per second by destination and outcome, the newest second last', () => {
    for (let i = 0; i < 3; i++) split.record('default/shop', v1);
    split.record('default/shop', v2);
    now += 1000;
    split.advance(); // the timer's tick: recording itself never reads the clock
    split.record('default/shop', v2);
    split.record('default/shop', { kind: 'reject', status: 503, body: 'no healthy instance' });
    split.record('default/other', v1);
    const read = split.read('default/shop', 3);
    expect(read.until).toBe(now);
    expect(read.series).toEqual([
      { outcome: 'reject', destination: 'reject 503', counts: [0, 0, 1] },
      { outcome: 'subset', destination: 'env=gray,version=v2', counts: [0, 1, 1] },
      { outcome: 'subset', destination: 'version=v1', counts: [0, 3, 0] },
    ]);
  });

  it('forgets seconds older than the window, also across a long pause', () => {
    split.record('default/shop', v1);
    now += (SPLIT_SECONDS - 1) * 1000;
    expect(split.read('default/shop').series[0]!.counts[0]).toBe(1);
    now += 1000;
    expect(split.read('default/shop').series).toEqual([]);
    split.record('default/shop', v1);
    now += 10 * SPLIT_SECONDS * 1000;
    expect(split.read('default/shop').series).toEqual([]);
  });

  it('keeps the same destination as one series when its Labels object is a different one with the same labels', () => {
    split.record('default/shop', { kind: 'subset', labels: { version: 'v1' } });
    split.record('default/shop', { kind: 'subset', labels: { version: 'v1' } });
    expect(split.read('default/shop', 1).series).toEqual([{ outcome: 'subset', destination: 'version=v1', counts: [2] }]);
  });

  it('lumps destinations past 64 per second into "other destinations", so fresh endpoint lists cannot grow it without bound', () => {
    for (let i = 0; i < 100; i++) split.record('default/shop', { kind: 'endpoints', endpoints: [`10.0.0.${i}:80`], first: 0 });
    const series = split.read('default/shop', 1).series;
    expect(series).toHaveLength(65);
    expect(series.find((s) => s.destination === 'other destinations')!.counts).toEqual([36]);
  });
});

describe('sumSplits (ext_proc workers each keep a split)', () => {
  it('sums series by outcome and destination, second by second, aligning a worker one second behind', () => {
    const t = 1_000_000_000_000;
    const a = { until: t, seconds: 3, series: [{ outcome: 'subset' as const, destination: 'version=v1', counts: [1, 2, 3] }] };
    const b = {
      until: t - 1000, // its timer has not moved to the current second yet
      seconds: 3,
      series: [
        { outcome: 'subset' as const, destination: 'version=v1', counts: [10, 20, 30] },
        { outcome: 'reject' as const, destination: 'reject 503', counts: [0, 0, 5] },
      ],
    };
    expect(sumSplits([a, b])).toEqual({
      until: t,
      seconds: 3,
      series: [
        { outcome: 'reject', destination: 'reject 503', counts: [0, 5, 0] },
        { outcome: 'subset', destination: 'version=v1', counts: [21, 32, 3] },
      ],
    });
  });
});
