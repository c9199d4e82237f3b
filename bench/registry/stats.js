// Summaries for interleaved benchmark rounds: min / median / max and paired ratios.
'use strict';

function summary(values) {
  const s = [...values].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor((s.length - 1) / 2)] * (s.length % 2 ? 1 : 0.5) + (s.length % 2 ? 0 : s[s.length / 2] * 0.5), max: s[s.length - 1] };
}

/** Per-round ratios b/a of two equally long series (paired: same round, adjacent in time). */
function pairedRatios(a, b) {
  return a.map((x, i) => b[i] / x);
}

function fmt(n, digits = 2) {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(digits);
}

function triple(values, digits) {
  const { min, median, max } = summary(values);
  return `${fmt(min, digits)} / ${fmt(median, digits)} / ${fmt(max, digits)}`;
}

function percentile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

module.exports = { summary, pairedRatios, triple, fmt, percentile };
