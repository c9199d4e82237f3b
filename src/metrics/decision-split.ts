import type { Decision } from '../model/decision';

/** Seconds of history kept (the console's split chart spans them). */
export const SPLIT_SECONDS = 300;

/** Distinct destinations kept per service and second; more (a custom router's fresh endpoint lists) count as one. */
const MAX_DESTINATIONS = 64;

/** One second's decisions of one service, by the decision's identity (see `identity`); `other` lumps the overflow. */
type SecondCounts = Map<unknown, { decision: Decision; count: number; other: boolean }>;
const OTHER: Readonly<Record<Decision['kind'], symbol>> = { pass: Symbol('pass'), subset: Symbol('subset'), endpoints: Symbol('endpoints'), cluster: Symbol('cluster'), reject: Symbol('reject') };

/** One destination and outcome of a service, with a count per second, oldest first. */
export interface SplitSeries {
  readonly destination: string;
  readonly outcome: Decision['kind'];
  readonly counts: number[];
}

export interface ServiceSplit {
  /** Epoch milliseconds of the last (current, still counting) second. */
  readonly until: number;
  readonly seconds: number;
  readonly series: SplitSeries[];
}

/**
 * Decisions per service per second, for the last SPLIT_SECONDS: the console's live split.
 * Recording is two Map lookups and an increment (no string is built: the engine and the
 * rules reuse one Labels object per destination, and the encoded answers are cached by the
 * same identity). Seconds advance on a timer, not per request; the ring reuses its maps.
 * Reading walks at most SPLIT_SECONDS buckets of one service; callers cache it per second.
 */
export class DecisionSplit {
  private readonly ring: Array<Map<string, SecondCounts>> = Array.from({ length: SPLIT_SECONDS }, () => new Map());
  private head = 0;
  private headStarted: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.headStarted = Math.floor(now() / 1000) * 1000;
    this.timer = setInterval(() => this.advance(), 1000);
    this.timer.unref();
  }

  /** Counts one decision for the service `serviceKey` (namespace/service). */
  record(serviceKey: string, decision: Decision): void {
    const second = this.ring[this.head]!;
    let counts = second.get(serviceKey);
    if (!counts) second.set(serviceKey, (counts = new Map()));
    const key = identity(decision);
    const entry = counts.get(key);
    if (entry) entry.count++;
    else if (counts.size < MAX_DESTINATIONS) counts.set(key, { decision, count: 1, other: false });
    else {
      const other = counts.get(OTHER[decision.kind]);
      if (other) other.count++;
      else counts.set(OTHER[decision.kind], { decision, count: 1, other: true });
    }
  }

  /** The service's split over the last `seconds` (at most SPLIT_SECONDS), one series per destination and outcome. */
  read(serviceKey: string, seconds = SPLIT_SECONDS): ServiceSplit {
    this.advance();
    const span = Math.min(Math.max(1, Math.floor(seconds)), SPLIT_SECONDS);
    const byName = new Map<string, SplitSeries>();
    for (let age = span - 1; age >= 0; age--) {
      const counts = this.ring[(this.head - age + SPLIT_SECONDS) % SPLIT_SECONDS]!.get(serviceKey);
      if (!counts) continue;
      for (const { decision, count, other } of counts.values()) {
        const destination = other ? 'other destinations' : describeDestination(decision);
        const name = `${decision.kind}\u0000${destination}`;
        let series = byName.get(name);
        if (!series) byName.set(name, (series = { destination, outcome: decision.kind, counts: new Array<number>(span).fill(0) }));
        series.counts[span - 1 - age]! += count;
      }
    }
    const series = [...byName.values()].sort((a, b) => (a.outcome + a.destination < b.outcome + b.destination ? -1 : 1));
    return { until: this.headStarted, seconds: span, series };
  }

  close(): void {
    clearInterval(this.timer);
  }

  /**
   * Moves the head to the current second, clearing the seconds it passes (a late timer skips
   * none). The timer calls it every second and `read` before reading; `record` never does.
   */
  advance(): void {
    const second = Math.floor(this.now() / 1000) * 1000;
    const steps = Math.min((second - this.headStarted) / 1000, SPLIT_SECONDS);
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % SPLIT_SECONDS;
      this.ring[this.head]!.clear();
    }
    if (steps > 0) this.headStarted = second;
  }
}

/**
 * One split from several (each ext_proc worker keeps its own): series with the same outcome
 * and destination are summed, second by second, aligned on the newest `until`.
 */
export function sumSplits(splits: readonly ServiceSplit[]): ServiceSplit {
  const until = Math.max(...splits.map((s) => s.until));
  const seconds = Math.max(...splits.map((s) => s.seconds));
  const byName = new Map<string, SplitSeries>();
  for (const split of splits) {
    // A worker whose second has not advanced yet is behind by `lag` seconds.
    const lag = Math.round((until - split.until) / 1000);
    for (const { outcome, destination, counts } of split.series) {
      const name = `${outcome}\u0000${destination}`;
      let sum = byName.get(name);
      if (!sum) byName.set(name, (sum = { destination, outcome, counts: new Array<number>(seconds).fill(0) }));
      counts.forEach((count, i) => {
        const at = seconds - split.seconds + i - lag;
        if (at >= 0) sum!.counts[at]! += count;
      });
    }
  }
  const series = [...byName.values()].sort((a, b) => (a.outcome + a.destination < b.outcome + b.destination ? -1 : 1));
  return { until, seconds, series };
}

/** A key that is the same for the same destination without building a string on the hot path. */
function identity(decision: Decision): unknown {
  switch (decision.kind) {
    case 'subset':
    case 'cluster':
      return decision.labels;
    case 'endpoints':
      return decision.endpoints;
    case 'pass':
      return decision.reason;
    case 'reject':
      return decision.status;
  }
}

/** The destination as the console shows it: `version=v2`, `cluster other.default version=v2`, `10.0.0.1:80`. */
export function describeDestination(decision: Decision): string {
  const labels = (l: Readonly<Record<string, string>>): string => Object.keys(l).sort().map((k) => `${k}=${l[k]}`).join(',');
  switch (decision.kind) {
    case 'subset':
      return labels(decision.labels);
    case 'cluster':
      return `cluster ${decision.cluster}${Object.keys(decision.labels).length ? ` ${labels(decision.labels)}` : ''}`;
    case 'endpoints':
      return decision.endpoints.length <= 3 ? decision.endpoints.join(',') : `${decision.endpoints.length} endpoints`;
    case 'pass':
      return 'pass (any instance)';
    case 'reject':
      return `reject ${decision.status}`;
  }
}
