/**
 * A minimal Prometheus text-format registry: counters and histograms with labels.
 * Label values are joined into one map key so an increment is one Map lookup.
 */
type LabelValues = readonly string[];

interface Metric {
  readonly name: string;
  render(): string;
}

/** One histogram series: observations per bucket (not cumulative), their sum and count. */
export interface HistogramSeries {
  readonly labels: LabelValues;
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** A counter's or histogram's series as plain data: what an ext_proc worker sends the primary to sum. */
export type MetricSnapshot =
  | { readonly type: 'counter'; readonly name: string; readonly help: string; readonly labelNames: readonly string[]; readonly series: readonly { readonly labels: LabelValues; readonly value: number }[] }
  | { readonly type: 'histogram'; readonly name: string; readonly help: string; readonly labelNames: readonly string[]; readonly buckets: readonly number[]; readonly series: readonly HistogramSeries[] };

function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(names: readonly string[], values: LabelValues, extra = ''): string {
  const parts = names.map((n, i) => `${n}="${escape(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: LabelValues; value: number }>();

  /**
   * The `known` label values (an unlabelled counter: its one series) start at 0: a series that
   * appears at 1 shows no rise to Prometheus' increase() and rate(), so an alert on the first
   * event would miss it.
   */
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[] = [], known: readonly LabelValues[] = []) {
    for (const labels of labelNames.length === 0 ? [[]] : known) this.inc(labels, 0);
  }

  inc(labels: LabelValues = [], by = 1): void {
    const key = labels.join('\u0000');
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels: [...labels], value: by });
  }

  snapshot(): MetricSnapshot {
    return { type: 'counter', name: this.name, help: this.help, labelNames: this.labelNames, series: [...this.values.values()].map(({ labels, value }) => ({ labels, value })) };
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const { labels, value } of this.values.values()) out += `${this.name}${labelText(this.labelNames, labels)} ${value}\n`;
    return out;
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, { labels: LabelValues; value: number }>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[] = []) {}

  set(value: number, labels: LabelValues = []): void {
    this.values.set(labels.join('\u0000'), { labels: [...labels], value });
  }

  /** Drops every label set (a gauge refilled at each scrape, whose series may disappear). */
  reset(): void {
    this.values.clear();
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    for (const { labels, value } of this.values.values()) out += `${this.name}${labelText(this.labelNames, labels)} ${value}\n`;
    return out;
  }
}

interface Series extends HistogramSeries {
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Fixed-bucket histogram (seconds), one series per label values. */
export class Histogram implements Metric {
  private readonly series = new Map<string, Series>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[], readonly labelNames: readonly string[] = []) {}

  /** Values observed, over every series. */
  get observations(): number {
    let n = 0;
    for (const series of this.series.values()) n += series.count;
    return n;
  }

  observe(value: number, labels: LabelValues = []): void {
    const series = this.seriesOf(labels);
    series.sum += value;
    series.count++;
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) {
        series.counts[i]!++;
        return;
      }
    }
  }

  /** Adds another histogram's series (same buckets) to this one's. */
  add({ labels, counts, sum, count }: HistogramSeries): void {
    const series = this.seriesOf(labels);
    counts.forEach((n, i) => (series.counts[i]! += n));
    series.sum += sum;
    series.count += count;
  }

  snapshot(): MetricSnapshot {
    const series = [...this.series.values()].map(({ labels, counts, sum, count }) => ({ labels, counts: [...counts], sum, count }));
    return { type: 'histogram', name: this.name, help: this.help, labelNames: this.labelNames, buckets: this.buckets, series };
  }

  private seriesOf(labels: LabelValues): Series {
    const key = labels.join('\u0000');
    let series = this.series.get(key);
    if (!series) this.series.set(key, (series = { labels: [...labels], counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 }));
    return series;
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    // An unlabelled histogram shows its zero series before the first observation.
    const all = this.series.size === 0 && this.labelNames.length === 0 ? [{ labels: [], counts: this.buckets.map(() => 0), sum: 0, count: 0 }] : this.series.values();
    for (const { labels, counts, sum, count } of all) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += counts[i]!;
        out += `${this.name}_bucket${labelText(this.labelNames, labels, `le="${this.buckets[i]}"`)} ${cumulative}\n`;
      }
      const plain = labelText(this.labelNames, labels);
      out += `${this.name}_bucket${labelText(this.labelNames, labels, 'le="+Inf"')} ${count}\n${this.name}_sum${plain} ${sum}\n${this.name}_count${plain} ${count}\n`;
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  private readonly collectors: Array<() => void> = [];

  /** `collect` runs before each render, to set gauges read from live state (instance counts). */
  onCollect(collect: () => void): void {
    this.collectors.push(collect);
  }

  /** `known`: label values exported at 0 from the start (see Counter). */
  counter(name: string, help: string, labelNames: readonly string[] = [], known: readonly LabelValues[] = []): Counter {
    return this.add(new Counter(name, help, labelNames, known));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): Histogram {
    return this.add(new Histogram(name, help, buckets, labelNames));
  }

  render(): string {
    for (const collect of this.collectors) collect();
    return this.metrics.map((m) => m.render()).join('');
  }

  /** How many values the histogram `name` has observed (0 when there is none). */
  observations(name: string): number {
    return this.find(Histogram, name)?.observations ?? 0;
  }

  /** Counters and histograms as plain data, for another process to sum (gauges are this process's own state). */
  snapshot(): MetricSnapshot[] {
    return this.metrics.flatMap((m) => (m instanceof Counter || m instanceof Histogram ? [m.snapshot()] : []));
  }

  /** Adds a snapshot's series to this registry's metrics of the same names, registered at their first sight. */
  absorb(snapshot: readonly MetricSnapshot[]): void {
    for (const s of snapshot) {
      if (s.type === 'counter') {
        const counter = this.find(Counter, s.name) ?? this.counter(s.name, s.help, s.labelNames);
        for (const { labels, value } of s.series) counter.inc(labels, value);
      } else {
        const histogram = this.find(Histogram, s.name) ?? this.histogram(s.name, s.help, s.buckets, s.labelNames);
        for (const series of s.series) histogram.add(series);
      }
    }
  }

  private find<M extends Metric>(kind: abstract new (...args: never[]) => M, name: string): M | undefined {
    return this.metrics.find((m): m is M => m instanceof kind && m.name === name);
  }

  private add<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
}
