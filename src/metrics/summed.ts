import { MetricsRegistry, type MetricSnapshot } from './metrics';

/**
 * The counters and histograms of several processes (the ext_proc workers) summed into one
 * exposition. Each process's last snapshot is kept: one that misses a scrape counts with it,
 * and one that exits stays in the sum, so a sum never falls (Prometheus reads a fall as a
 * counter reset, and rate() would count the whole value again).
 */
export class SummedMetrics {
  private readonly latest = new Map<number, readonly MetricSnapshot[]>();
  /** What processes that exited had counted by their last snapshot. */
  private readonly retired = new MetricsRegistry();

  update(id: number, snapshot: readonly MetricSnapshot[]): void {
    this.latest.set(id, snapshot);
  }

  retire(id: number): void {
    const last = this.latest.get(id);
    if (last) this.retired.absorb(last);
    this.latest.delete(id);
  }

  render(): string {
    const sum = new MetricsRegistry();
    sum.absorb(this.retired.snapshot());
    for (const snapshot of this.latest.values()) sum.absorb(snapshot);
    return sum.render();
  }
}
