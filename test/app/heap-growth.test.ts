import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { boundLargeHeapGrowth } from '../../src/app/heap-growth';
import { captureLogs } from '../support/logs';
import { until } from '../support/app';

const REPO = path.join(__dirname, '..', '..');

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

/** The factor V8 sized the old generation's limit with at each full GC, between the script's markers (`--trace-gc-verbose`). */
function factorsBetweenMarkers(script: string, nodeArgs: string[] = []): string[][] {
  const run = spawnSync(process.execPath, [...nodeArgs, '--expose-gc', '--trace-gc-verbose', '-r', path.join(REPO, 'test', 'support', 'register-ts.js'), '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 20000 });
  expect(run.status).toBe(0);
  const phases: string[][] = [[]];
  for (const line of run.stdout.split('\n')) {
    if (line === 'MARK') phases.push([]);
    const factor = /\[HeapController\] Limit: .*\(([\d.]+)\)$/.exec(line)?.[1];
    if (factor) phases[phases.length - 1]!.push(factor);
  }
  return phases;
}

const BOUND_THEN_RELEASED = `
  const { boundLargeHeapGrowth } = require('./src/app/heap-growth.ts');
  const stop = boundLargeHeapGrowth({ info() {} }, { boundAboveBytes: 1, releaseBelowBytes: 0, checkMs: 1 });
  setTimeout(() => {
    console.log('MARK'); gc(); console.log('MARK');
    stop();
    gc(); console.log('MARK');
  }, 50);
`;

test("V8 sizes the heap by the bound at the next full GC, and by its own factor once it is given back", () => {
  const [, bounded, released] = factorsBetweenMarkers(BOUND_THEN_RELEASED);
  expect(bounded).toEqual(['1.4']);
  expect(released).toHaveLength(1);
  expect(released![0]).not.toBe('1.4');
});

test('a process started with --heap-growing-percent keeps its own', () => {
  const [, bounded] = factorsBetweenMarkers(BOUND_THEN_RELEASED, ['--heap-growing-percent=90']);
  expect(bounded).toEqual(['1.9']);
});
