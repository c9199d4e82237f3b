import * as v8 from 'node:v8';

/**
 * Between full GCs the heap grows by this much of what the last one kept. Left to itself V8
 * picks from 1.1x to 4x, by how fast the program fills the heap against how fast it collects:
 * - at 1,000,000 instances up to 4x left 300-350 MB of garbage beside 480 MB live (RSS 1 GiB
 *   right after a load); 40% keeps RSS near 700 MiB;
 * - at 100,000 under churn with an Envoy subscribed it went down to 1.1-1.2x, and a full GC
 *   came about every second (pauses 4-32 ms); with 40% about half as many came, and churn
 *   rounds with a pause over 20 ms went from 8 of 30 to 1 of 24 (docs/PERFORMANCE.md, "Heap
 *   growth under churn"; without an Envoy subscribed 40% did no better, in short runs worse).
 */
const HEAP_GROWTH_PERCENT = 40;

/**
 * Sets V8's `--heap-growing-percent`, which V8 reads at every full GC (so setting it while
 * running works). It overrides V8's own factor, also its lower one near the heap limit (the
 * limit itself still holds). A process started with the flag keeps it.
 */
export function setHeapGrowth(): void {
  if (process.execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWTH_PERCENT}`);
}
