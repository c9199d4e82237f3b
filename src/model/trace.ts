import type { Labels } from './instance';

/** One router's step, for explain: how many instances went in and came out, and why. */
export interface TraceStep {
  readonly router: string;
  readonly before: number;
  readonly after: number;
  readonly labels: Labels;
  readonly note: string;
}
