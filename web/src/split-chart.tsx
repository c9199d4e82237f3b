import type { Split } from './api';

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#ff7f0e'];
const WIDTH = 600;
const HEIGHT = 160;

/**
 * Decisions per second as stacked bars, one colour per destination and outcome, the newest
 * second on the right; the legend (a list, readable by screen readers) gives each series'
 * total over the window and over the last 10 seconds.
 */
export function SplitChart({ split }: { split: Split }) {
  const { seconds, series } = split;
  const totals = new Array<number>(seconds).fill(0);
  for (const s of series) s.counts.forEach((c, i) => (totals[i]! += c));
  const peak = Math.max(1, ...totals);
  const bar = WIDTH / seconds;
  const stackBase = new Array<number>(seconds).fill(0);
  const sum = (counts: number[], from = 0) => counts.slice(from).reduce((a, b) => a + b, 0);
  const overall = sum(totals);
  const recent = sum(totals, seconds - 10);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" role="img" aria-label={`Decisions per second over the last ${seconds} seconds: ${overall} in all, ${recent} in the last 10 seconds, peak ${peak === 1 && overall === 0 ? 0 : peak} per second`}>
        <rect x="0" y="0" width={WIDTH} height={HEIGHT} fill="#f6f7f9" />
        {series.map((s, k) =>
          s.counts.map((count, i) => {
            if (count === 0) return null;
            const h = (count / peak) * (HEIGHT - 4);
            stackBase[i]! += h;
            return <rect key={`${k}-${i}`} x={i * bar} y={HEIGHT - stackBase[i]!} width={Math.max(bar - 0.3, 0.5)} height={h} fill={COLOURS[k % COLOURS.length]} />;
          }),
        )}
      </svg>
      <figcaption>
        <span class="muted">{seconds} s ago → now; peak {overall ? peak : 0}/s</span>
        {series.length === 0 ? <p>No decisions for this service in the last {seconds} seconds.</p> : (
          <ul class="legend" aria-label="Destinations">
            {series.map((s, k) => (
              <li key={s.outcome + s.destination} data-series={`${s.outcome} ${s.destination}`} data-total={sum(s.counts)}>
                <span class="swatch" data-colour={COLOURS[k % COLOURS.length]} aria-hidden="true">
                  <svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill={COLOURS[k % COLOURS.length]} /></svg>
                </span>
                <strong>{s.outcome}</strong> {s.destination}: {sum(s.counts)} ({sum(s.counts, seconds - 10)} in the last 10 s, {overall ? Math.round((100 * sum(s.counts)) / overall) : 0}%)
              </li>
            ))}
          </ul>
        )}
      </figcaption>
    </figure>
  );
}
