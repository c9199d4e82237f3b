/**
 * Work that yields between steps (a generator), so a large job (a 100,000-endpoint
 * ClusterLoadAssignment: about 100 ms of CPU; sorting a million store entries: about 75 ms)
 * runs without holding the event loop that serves ext_proc: in slices of `SLICE_MS` between
 * turns, or to the end when a caller needs the result at once.
 */
export type Steps<T> = Generator<void, T, void>;

/**
 * A step is about a millisecond, so a slice is one step unless steps are shorter. With 4 ms
 * slices, ext_proc p99 under churn with an ADS stream on a 100,000-endpoint cluster was about
 * 1.5x as long (docs/PERFORMANCE.md, "One step per turn").
 */
const SLICE_MS = 1;

/** Resolves after the event loop's other ready work has had its turn (the await between two slices). */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * `promise`, already marked handled: a caller that yields a turn before awaiting it would
 * otherwise have a rejection meanwhile count as unhandled, which ends the process.
 */
export function awaitedLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

export function runToEnd<T>(steps: Steps<T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/**
 * Runs `steps` for up to `SLICE_MS` per event-loop turn. Resolves, with the milliseconds the
 * steps kept the thread busy, when they are done, including when another caller ran them to
 * the end meanwhile (then the caller holds the result).
 */
export async function runInSlices(steps: Steps<unknown>): Promise<number> {
  return (await sliced(steps)).busy;
}

/** `steps` run in slices between event-loop turns; resolves with their result. */
export async function resultInSlices<T>(steps: Steps<T>): Promise<T> {
  return (await sliced(steps)).result;
}

/**
 * The driver of both, taking the result from the last `next()`. Not a generator made per call
 * around `steps` to catch their result: V8 kept what such a closure caught alive after it
 * returned, often through two scavenges, so every heartbeat body of 2,000 entries read through
 * it went to the old generation (docs/PERFORMANCE.md, "Promoted by a generator closure").
 */
async function sliced<T>(steps: Steps<T>): Promise<{ result: T; busy: number }> {
  let busy = 0;
  for (;;) {
    const sliceStart = performance.now();
    let now = sliceStart;
    let next: IteratorResult<void, T>;
    do {
      next = steps.next();
      now = performance.now();
    } while (!next.done && now < sliceStart + SLICE_MS);
    busy += now - sliceStart;
    if (next.done) return { result: next.value, busy };
    await yieldTurn();
  }
}

/** Items between two yields of a loop over many (endpoints, instances): about a millisecond of work. */
export const ITEMS_PER_STEP = 1024;

/**
 * A stable sort that yields between steps: runs of `ITEMS_PER_STEP` sorted at a time, then
 * merged pairwise between two buffers, each merge yielding every `ITEMS_PER_STEP` items.
 * Sorting 100,000 endpoints at once held the loop for 60-90 ms. Sorts `items[0, length)`;
 * returns whichever of `buffers` holds the result in its first `length` entries (a caller that
 * sorts often passes buffers it reuses; either may be `items` itself).
 */
export function* sortInSteps<T>(items: readonly T[], before: (a: T, b: T) => boolean, length = items.length, buffers: [T[], T[]] = [new Array<T>(length), new Array<T>(length)]): Steps<T[]> {
  let [from, to] = buffers;
  for (let at = 0; at < length; at += ITEMS_PER_STEP) {
    const run = items.slice(at, Math.min(at + ITEMS_PER_STEP, length)).sort(comparator(before));
    for (let i = 0; i < run.length; i++) from[at + i] = run[i]!;
    yield;
  }
  for (let width = ITEMS_PER_STEP; width < length; width *= 2) {
    for (let start = 0; start < length; start += 2 * width) {
      const middle = Math.min(start + width, length);
      yield* mergeInSteps({ items: from, start, end: middle }, { items: from, start: middle, end: Math.min(start + 2 * width, length) }, to, start, before);
    }
    [from, to] = [to, from];
  }
  return from;
}

/** `Array.prototype.sort`'s comparator for a `before` predicate. */
export function comparator<T>(before: (a: T, b: T) => boolean): (a: T, b: T) => number {
  return (a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0);
}

/** `sortInSteps` run in slices between event-loop turns. */
export function sortInSlices<T>(items: readonly T[], before: (a: T, b: T) => boolean): Promise<T[]> {
  return resultInSlices(sortInSteps(items, before));
}

/** Two sorted arrays merged in one go (stable: ties take from `a`). */
export function mergeSorted<T>(a: readonly T[], b: readonly T[], before: (a: T, b: T) => boolean): T[] {
  const out = new Array<T>(a.length + b.length);
  runToEnd(mergeInSteps({ items: a, start: 0, end: a.length }, { items: b, start: 0, end: b.length }, out, 0, before));
  return out;
}

interface Run<T> {
  readonly items: readonly T[];
  readonly start: number;
  readonly end: number;
}

/** Merges two sorted runs into `to` from `at`, yielding every `ITEMS_PER_STEP` items. */
function* mergeInSteps<T>(left: Run<T>, right: Run<T>, to: T[], at: number, before: (a: T, b: T) => boolean): Steps<void> {
  let i = left.start;
  let j = right.start;
  for (let k = at, end = at + (left.end - left.start) + (right.end - right.start); k < end; k++) {
    // Ties take from the left run, the earlier one: the sort stays stable.
    to[k] = j >= right.end || (i < left.end && !before(right.items[j]!, left.items[i]!)) ? left.items[i++]! : right.items[j++]!;
    if ((k & (ITEMS_PER_STEP - 1)) === ITEMS_PER_STEP - 1) yield;
  }
}
