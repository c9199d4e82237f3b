/** Work between two yields to the event loop, in ms. */
const SLICE_MS = 4;
/** Entries sorted in one piece before the merges; small enough to sort within a slice. */
const RUN = 8192;

/**
 * Sorts by `key` without holding the event loop for more than a few ms: runs of RUN entries are
 * sorted one at a time, then merged pairwise, yielding (setImmediate) whenever a slice's time is
 * up. A plain sort of 1,000,000 entries held the loop for about 75 ms (bench/store/list.js).
 */
export async function sortByKey<T extends { readonly key: string }>(items: readonly T[]): Promise<T[]> {
  let until = performance.now() + SLICE_MS;
  const pause = async (): Promise<void> => {
    if (performance.now() < until) return;
    await new Promise(setImmediate);
    until = performance.now() + SLICE_MS;
  };
  let runs: T[][] = [];
  for (let from = 0; from < items.length; from += RUN) {
    runs.push(items.slice(from, from + RUN).sort(byKey));
    await pause();
  }
  while (runs.length > 1) {
    const merged: T[][] = [];
    for (let i = 0; i < runs.length; i += 2) merged.push(i + 1 < runs.length ? await merge(runs[i]!, runs[i + 1]!, pause) : runs[i]!);
    runs = merged;
  }
  return runs[0] ?? [];
}

/** Merges two arrays sorted by key, in one go. */
export function mergeByKey<T extends { readonly key: string }>(a: readonly T[], b: readonly T[]): T[] {
  const out = new Array<T>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = byKey(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}

async function merge<T extends { readonly key: string }>(a: T[], b: T[], pause: () => Promise<void>): Promise<T[]> {
  const out = new Array<T>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    out[k++] = byKey(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!;
    if ((k & 4095) === 0) await pause();
  }
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}

export function byKey(a: { readonly key: string }, b: { readonly key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
