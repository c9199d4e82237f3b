import type { Labels } from '../model/instance';

/** Merged label sets per (before, added) pair: the same inputs give the same object. */
const merged = new WeakMap<Labels, WeakMap<Labels, Labels>>();

/**
 * Earlier labels plus new ones; returns `added` itself when nothing came before (the
 * common case, no copy). Label sets are immutable, so a merge is memoised by its inputs:
 * the same object every request lets `ServiceView.subset()` answer by identity instead
 * of building a canonical key.
 */
export function mergeLabels(before: Labels, added: Labels): Labels {
  for (const _ in before) {
    let byAdded = merged.get(before);
    if (!byAdded) merged.set(before, (byAdded = new WeakMap()));
    let result = byAdded.get(added);
    if (!result) byAdded.set(added, (result = Object.freeze({ ...before, ...added })));
    return result;
  }
  return added;
}
