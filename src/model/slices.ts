/**
 * Work that yields between steps (a generator), so a large job (a 100,000-endpoint
 * ClusterLoadAssignment: about 100 ms of CPU; sorting a million store entries: about 75 ms)
 * runs without holding the event loop that serves ext_proc: in slices of `SLICE_MS` between
 * turns (all such work together: see `sliced`), or to the end when a caller needs the result at once.
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
 * Sliced work shares one budget per event-loop turn: jobs started together (5,000 small
 * ClusterLoadAssignments after one registration batch over as many services) each ran a slice
 * of their own in the same turn, and held the loop for 200-300 ms. A job runs at once while the
 * budget lasts; else it waits in `waiting`, which `resume` (one immediate per turn) serves in
 * order, starting the budget over. So sliced work holds a loop iteration about 2 ms at most: a
 * budget spent in an I/O or timer callback, and the next in the check phase.
 * Steps another caller may run to the end meanwhile (`runToEnd`) resolve with no result and no
 * error of theirs: such a caller checks the outcome itself (CachedResource.prepare).
 */
let spentThisTurn = 0;
const waiting: Array<(() => boolean) | undefined> = [];
let waitingHead = 0;
let resumeQueued = false;

function spend(ms: number): void {
  spentThisTurn += ms;
  queueResume(); // also starts the next turn's budget over when no job waits
}

function queueResume(): void {
  if (resumeQueued) return;
  resumeQueued = true;
  setImmediate(resume);
}

/** Runs waiting jobs, first come first served, while this turn's budget lasts; one not done goes to the back. */
function resume(): void {
  resumeQueued = false;
  spentThisTurn = 0;
  while (waitingHead < waiting.length && spentThisTurn < SLICE_MS) {
    const job = waiting[waitingHead]!;
    waiting[waitingHead++] = undefined; // a queue read from its head: no shift() over thousands
    if (!job()) waiting.push(job);
  }
  if (waitingHead === waiting.length) waiting.length = waitingHead = 0;
  else {
    if (waitingHead > 1024 && waitingHead * 2 > waiting.length) {
      // Jobs that go round leave holes at the head.
      waiting.splice(0, waitingHead);
      waitingHead = 0;
    }
    queueResume();
  }
}

/**
 * The driver of both, taking the result from the last `next()`. Not a generator made per call
 * around `steps` to catch their result: V8 kept what such a closure caught alive after it
 * returned, often through two scavenges, so every heartbeat body of 2,000 entries read through
 * it went to the old generation (docs/PERFORMANCE.md, "Promoted by a generator closure").
 */
function sliced<T>(steps: Steps<T>): Promise<{ result: T; busy: number }> {
  return new Promise((resolve, reject) => {
    let busy = 0;
    /** One slice, at least one step, while the turn's budget lasts; true when the steps are done (or threw). */
    const slice = (): boolean => {
      const sliceStart = performance.now();
      const until = sliceStart + SLICE_MS - spentThisTurn;
      let now = sliceStart;
      let next: IteratorResult<void, T>;
      try {
        do {
          next = steps.next();
          now = performance.now();
        } while (!next.done && now < until);
      } catch (error) {
        spend(performance.now() - sliceStart);
        reject(error);
        return true;
      }
      spend(now - sliceStart);
      busy += now - sliceStart;
      if (next.done) resolve({ result: next.value, busy });
      return next.done === true;
    };
    if (spentThisTurn >= SLICE_MS || !slice()) {
      waiting.push(slice);
      queueResume();
    }
  });
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
