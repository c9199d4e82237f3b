const BACKOFF_BASE_MS = 250;
/** The longest wait between tries, and the longest a single agent's call may take (`--file`'s calls may take ttl/3, each carrying thousands). */
export const BACKOFF_MAX_MS = 5000;

/**
 * The wait before try `attempt + 1` after `attempt` failed (1 for the first): exponential from
 * 250 ms, capped at 5 s and at the heartbeat interval, with jitter so many agents do not retry
 * in step after an admin restart. Eight tries wait under 20 s in all. One schedule for a single
 * registration, its heartbeats and `--file`'s batches (whose 1 s, 2 s, 3 s ... took about 28 s).
 */
export function backoffMs(attempt: number, intervalMs: number, random: () => number = Math.random): number {
  const delay = Math.min(BACKOFF_MAX_MS, intervalMs, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return Math.round(delay / 2 + (random() * delay) / 2);
}
