import type { Labels } from './instance';

/** A destination a router passed over before its choice, and why (explain). */
export interface Skipped {
  /** A rule's destination name. */
  readonly destination: string;
  /** Its priority (0 is the highest): a group above the chosen one, or the chosen one's own. */
  readonly priority: number;
  /** `no instance has version=gray`, `isolated`, ... */
  readonly reason: string;
}

/** One router's step, for explain: how many instances went in and came out, and why. */
export interface TraceStep {
  readonly router: string;
  readonly before: number;
  readonly after: number;
  readonly labels: Labels;
  readonly note: string;
  /** What the router passed over (the rule router: destinations that could not serve); empty when nothing. */
  readonly skipped: readonly Skipped[];
}
