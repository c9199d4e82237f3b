/**
 * Work that yields between steps (a generator), so a large resource (a 100,000-endpoint
 * ClusterLoadAssignment: about 100 ms of CPU) is built without holding the event loop that
 * serves ext_proc: run in slices of `SLICE_MS` between turns, or to the end when a caller
 * needs the result at once.
 */
export type Steps<T> = Generator<void, T, void>;

/** Slices stay well below the 10 ms the event loop may be held; one step is about a millisecond. */
const SLICE_MS = 4;

export function runToEnd<T>(steps: Steps<T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/**
 * Runs `steps` for up to `SLICE_MS` per event-loop turn. Resolves when they are done, including
 * when another caller ran them to the end meanwhile (then the caller holds the result).
 */
export async function runInSlices(steps: Steps<unknown>): Promise<void> {
  for (;;) {
    const sliceEnd = performance.now() + SLICE_MS;
    do {
      if (steps.next().done) return;
    } while (performance.now() < sliceEnd);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Items between two yields of a loop over many (endpoints, instances): about a millisecond of work. */
export const ITEMS_PER_STEP = 1024;

/**
 * A stable sort that yields between steps: runs of `ITEMS_PER_STEP` sorted at a time, then
 * merged pairwise, each merge yielding every `ITEMS_PER_STEP` items. Sorting 100,000 endpoints
 * at once held the loop for 60-90 ms.
 */
export function* sortInSteps<T>(items: readonly T[], before: (a: T, b: T) => boolean): Steps<T[]> {
  let runs: T[][] = [];
  for (let at = 0; at < items.length; at += ITEMS_PER_STEP) {
    runs.push(items.slice(at, at + ITEMS_PER_STEP).sort((a, b) => (before(b, a) ? 1 : before(a, b) ? -1 : 0)));
    yield;
  }
  while (runs.length > 1) {
    const merged: T[][] = [];
    for (let i = 0; i < runs.length; i += 2) merged.push(i + 1 < runs.length ? yield* mergeInSteps(runs[i]!, runs[i + 1]!, before) : runs[i]!);
    runs = merged;
  }
  return runs[0] ?? [];
}

function* mergeInSteps<T>(a: readonly T[], b: readonly T[], before: (a: T, b: T) => boolean): Steps<T[]> {
  const out = new Array<T>(a.length + b.length);
  let i = 0;
  let j = 0;
  for (let k = 0; k < out.length; k++) {
    // Ties take from `a`, the earlier run: the sort stays stable.
    out[k] = j >= b.length || (i < a.length && !before(b[j]!, a[i]!)) ? a[i++]! : b[j++]!;
    if ((k & (ITEMS_PER_STEP - 1)) === ITEMS_PER_STEP - 1) yield;
  }
  return out;
}
