import type { RequestContext } from '../context/request-context';
import type { Destination, LabelSource } from '../model/rule';

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
 * Chooses one destination of a priority group by weight among those `canServe`: by hash
 * of the sticky label when it is present, at random otherwise. Undefined when no
 * destination of the group can serve.
 */
export function pickDestination(
  group: readonly Destination[],
  canServe: (destination: Destination) => boolean,
  ctx: RequestContext,
  stickyBy: LabelSource | undefined,
): Destination | undefined {
  let total = 0;
  for (const d of group) if (d.weight > 0 && canServe(d)) total += d.weight;
  if (total === 0) return undefined;
  const stickyValue = stickyBy ? ctx.label(stickyBy) : undefined;
  let point = stickyValue !== undefined ? fnv1a(stickyValue) % total : Math.random() * total;
  for (const d of group) {
    if (d.weight <= 0 || !canServe(d)) continue;
    if (point < d.weight) return d;
    point -= d.weight;
  }
  return undefined; // unreachable: point < total
}
