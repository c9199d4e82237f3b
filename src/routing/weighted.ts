import type { RequestContext } from '../context/request-context';
import { fnv1a } from '../model/hash';
import type { Destination, LabelSource } from '../model/rule';

/** murmur3's finaliser: FNV-1a alone spreads near-identical keys (user-1, user-2) poorly. */
function mix32(hash: number): number {
  let h = hash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Chooses one destination of a priority group by weight among those `canServe`: sticky
 * (by the label's hash) when `stickyBy` names a label the request has, at random
 * otherwise. Undefined when no destination of the group can serve.
 */
export function pickDestination(
  group: readonly Destination[],
  canServe: (destination: Destination) => boolean,
  ctx: RequestContext,
  stickyBy: LabelSource | undefined,
): Destination | undefined {
  const stickyValue = stickyBy ? ctx.label(stickyBy) : undefined;
  return stickyValue === undefined ? pickRandom(group, canServe) : pickSticky(group, canServe, stickyValue);
}

function pickRandom(group: readonly Destination[], canServe: (d: Destination) => boolean): Destination | undefined {
  let total = 0;
  for (const d of group) if (d.weight > 0 && canServe(d)) total += d.weight;
  let point = Math.random() * total;
  for (const d of group) {
    if (d.weight <= 0 || !canServe(d)) continue;
    if (point < d.weight) return d;
    point -= d.weight;
  }
  return undefined;
}

/**
 * Weighted rendezvous hashing: each destination scores hash(value, name) scaled by its
 * weight and the best score wins. A user keeps their destination while it can serve;
 * when another destination goes down, only that destination's users move.
 */
function pickSticky(group: readonly Destination[], canServe: (d: Destination) => boolean, value: string): Destination | undefined {
  let best: Destination | undefined;
  let bestScore = -Infinity;
  for (const d of group) {
    if (d.weight <= 0 || !canServe(d)) continue;
    // Uniform in (0, 1), then -w / ln(u): the weighted rendezvous score.
    const u = (mix32(fnv1a(`${d.name}\u0000${value}`)) + 0.5) / 4294967296;
    const score = -d.weight / Math.log(u);
    if (score > bestScore) {
      bestScore = score;
      best = d;
    }
  }
  return best;
}
