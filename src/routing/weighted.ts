import type { RequestContext } from '../context/request-context';
import type { Labels } from '../model/instance';
import type { Destination, LabelSource } from '../model/rule';
import type { ServiceView } from '../registry/service-view';
import { mergeLabels } from './labels';

/** FNV-1a, 32 bit: stable across processes, so a sticky user lands on the same group on every replica. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Chooses one destination of a priority group by weight among those with a healthy
 * instance within the labels already chosen (`before`, e.g. a lane): by hash of the
 * sticky label when it is present, at random otherwise. Returns the destination's
 * labels merged with `before`, or undefined when no destination of the group can serve.
 */
export function pickDestination(
  group: readonly Destination[],
  view: ServiceView,
  before: Labels,
  ctx: RequestContext,
  stickyBy: LabelSource | undefined,
): Labels | undefined {
  let total = 0;
  for (const d of group) if (d.weight > 0 && view.subset(mergeLabels(before, d.labels)).healthy > 0) total += d.weight;
  if (total === 0) return undefined;
  const stickyValue = stickyBy ? ctx.label(stickyBy) : undefined;
  let point = stickyValue !== undefined ? fnv1a(stickyValue) % total : Math.random() * total;
  for (const d of group) {
    if (d.weight <= 0) continue;
    const labels = mergeLabels(before, d.labels);
    if (view.subset(labels).healthy === 0) continue;
    if (point < d.weight) return labels;
    point -= d.weight;
  }
  return undefined; // unreachable: point < total
}
