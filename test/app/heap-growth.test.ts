import { boundLargeHeapGrowth } from '../../src/app/heap-growth';
import { captureLogs } from '../support/logs';
import { until } from '../support/app';

// The effect on V8's heap is measured in bench/registry/scale.js; here, when the bound is set and given back.
test('bounds growth once the heap in use passes the bound, once, and gives V8 its factor back under the release size', async () => {
  const stays = captureLogs();
  const stopStaying = boundLargeHeapGrowth(stays.logger, { boundAboveBytes: 1, releaseBelowBytes: 0, checkMs: 5 });
  const flips = captureLogs();
  const stopFlipping = boundLargeHeapGrowth(flips.logger, { boundAboveBytes: 1, releaseBelowBytes: Number.MAX_SAFE_INTEGER, checkMs: 5 });
  try {
    await until(() => flips.records().length >= 2, 'the bound set and given back');
    expect(flips.records().slice(0, 2).map((r) => r.event)).toEqual(['heap.bounded', 'heap.unbounded']);
    expect(stays.records().map((r) => [r.event, r.usedMiB > 0])).toEqual([['heap.bounded', true]]); // not again at every check
    expect(stays.records()[0]!.msg).toContain('grows by 40% between full GCs');
  } finally {
    stopStaying();
    stopFlipping();
  }
});
