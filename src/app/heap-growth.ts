import * as v8 from 'node:v8';
import type { Logger } from '../log/logger';

export interface HeapGrowthOptions {
  /** Heap in use (garbage included) past which growth is bounded. */
  readonly boundAboveBytes: number;
  /** ... and under which V8's own factor comes back (apart from the bound, so it does not flap). */
  readonly releaseBelowBytes: number;
  readonly checkMs: number;
}

/**
 * Bounded past 256 MiB in use, which a registry passes at a few hundred thousand instances
 * (about 485 bytes each, plus garbage), early enough in a large load that its full GCs already
 * size the heap by the bound (one at 512 MiB came after the last of them: RSS stayed at 1 GiB).
 * At 100,000 instances under churn with Envoy subscribed the heap stays under 160 MiB in use.
 * Unbounded, V8 lets the old generation grow to up to 4x what its last full GC kept: at
 * 1,000,000 instances 300-350 MB of garbage beside 480 MB live, and RSS right after a load at 1 GiB.
 */
const DEFAULTS: HeapGrowthOptions = { boundAboveBytes: 256 * 2 ** 20, releaseBelowBytes: 128 * 2 ** 20, checkMs: 1000 };
/** Between full GCs a large heap grows by this much of what the last one kept: RSS about 700 MiB at 1,000,000 (docs/PERFORMANCE.md). */
const LARGE_HEAP_GROWTH_PERCENT = 40;

/**
 * Sets how far a large heap grows between full GCs: V8's `--heap-growing-percent`, which V8
 * reads at every full GC, so it can change while running. V8 otherwise picks the factor itself,
 * from 1.1 to 4, and lower near its heap limit (the flag overrides that too; the limit itself
 * still holds). Small heaps keep V8's own factor: at 100,000 instances under churn, 1.4 made
 * full GCs frequent enough to pause past 20 ms. A process started with the flag keeps it.
 * Returns the function that stops it and gives V8 its own factor back.
 */
export function boundLargeHeapGrowth(log: Logger, options: HeapGrowthOptions = DEFAULTS): () => void {
  if (process.execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return () => undefined;
  let bounded = false;
  const set = (bound: boolean): void => {
    bounded = bound;
    v8.setFlagsFromString(`--heap-growing-percent=${bound ? LARGE_HEAP_GROWTH_PERCENT : 0}`); // 0: V8's own
  };
  const timer = setInterval(() => {
    const used = v8.getHeapStatistics().used_heap_size;
    if (!bounded && used > options.boundAboveBytes) {
      set(true);
      log.info({ event: 'heap.bounded', usedMiB: Math.round(used / 2 ** 20) }, `heap: over ${options.boundAboveBytes / 2 ** 20} MiB in use; it now grows by ${LARGE_HEAP_GROWTH_PERCENT}% between full GCs`);
    } else if (bounded && used < options.releaseBelowBytes) {
      set(false);
      log.info({ event: 'heap.unbounded', usedMiB: Math.round(used / 2 ** 20) }, `heap: under ${options.releaseBelowBytes / 2 ** 20} MiB in use; V8 sizes its growth again`);
    }
  }, options.checkMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (bounded) set(false);
  };
}
