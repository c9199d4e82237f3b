import type { Labels } from '../model/instance';

/** Earlier labels plus new ones; returns `added` itself when nothing came before (the common case, no copy). */
export function mergeLabels(before: Labels, added: Labels): Labels {
  for (const _ in before) return { ...before, ...added };
  return added;
}
