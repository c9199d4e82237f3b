// bench/registry/parse-intern.js: what V8's string table costs JSON.parse of heartbeat bodies.
// JSON.parse puts string values of up to 10 characters in the string table, which copies itself
// whole as it grows; a registry keeps strings of its own, so the table's copies pile up until a
// full GC. Variants, each (variant, round) in a process of its own, alternated:
//  - short: ids `i123456` (7 characters), cycling over IDS, read by JSON.parse;
//  - long: the same ids padded to 15 characters (never put in the table), by JSON.parse;
//  - reader: the short ids read by the server's heartbeat body reader (admin/heartbeats-body.ts,
//    from ./dist: `npm run build` first), which makes strings of its own.
// Per run: JSON.parse time of each of BODIES bodies of 2,000 `{service, id}` entries (min /
// median / p99 / max), and how many took over 10 ms with no GC pause overlapping them.
// Usage: node bench/registry/parse-intern.js   # IDS=1000000 BODIES=2000 ROUNDS=3
'use strict';
const { fork } = require('node:child_process');
const path = require('node:path');
const { performance, PerformanceObserver } = require('node:perf_hooks');
const { triple, pairedRatios, percentile } = require('./stats');

const IDS = Number(process.env.IDS ?? 1000000);
const BODIES = Number(process.env.BODIES ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const VARIANTS = ['short', 'long', 'reader'];

/** The server's reader, run to the end (admin/heartbeats-body.ts; the server runs it in slices). */
function heartbeatsReader() {
  const dist = path.join(__dirname, '..', '..', 'dist');
  const { runToEnd } = require(path.join(dist, 'model', 'slices.js'));
  const { heartbeatsBodySteps } = require(path.join(dist, 'admin', 'heartbeats-body.js'));
  return (text) => runToEnd(heartbeatsBodySteps(text));
}

async function measure(variant) {
  const gcs = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries().map((e) => [e.startTime, e.startTime + e.duration])));
  observer.observe({ entryTypes: ['gc'] });
  const id = variant === 'long' ? (n) => `instance-${String(n).padStart(6, '0')}` : (n) => `i${n}`;
  const parse = variant === 'reader' ? heartbeatsReader() : JSON.parse;
  const times = [];
  const slow = [];
  let beat = 0;
  for (let body = 0; body < BODIES; body++) {
    const instances = [];
    for (let k = 0; k < 2000; k++, beat++) instances.push({ service: 'big', id: id(beat % IDS) });
    const text = JSON.stringify({ instances });
    const start = performance.now();
    parse(text);
    const took = performance.now() - start;
    times.push(took);
    if (took > 10) slow.push([start, start + took]);
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // the observer's entries arrive after the loop
  observer.disconnect();
  const own = slow.filter(([from, to]) => !gcs.some(([gFrom, gTo]) => gFrom < to && gTo > from));
  times.sort((a, b) => a - b);
  return { median: percentile(times, 0.5), p99: percentile(times, 0.99), max: times.at(-1), over10: own.length };
}

function run(variant) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['child', variant]);
    child.once('message', resolve);
    child.once('exit', (code) => code && reject(new Error(`${variant}: exit ${code}`)));
  });
}

async function main() {
  const results = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of round % 2 ? [...VARIANTS].reverse() : VARIANTS) {
      const r = await run(variant);
      results[variant].push(r);
      console.error(`round ${round + 1} ${variant}: median ${r.median.toFixed(2)} ms, p99 ${r.p99.toFixed(2)}, max ${r.max.toFixed(2)}, over 10 ms outside GC ${r.over10}`);
    }
  }
  console.log(`\nbench/registry/parse-intern: ${BODIES} bodies of 2,000 heartbeat entries, ids cycling over ${IDS}, ${ROUNDS} rounds (min / median / max over runs)\n`);
  console.log('| ids | median ms | p99 ms | max ms | parses over 10 ms outside GC |');
  console.log('|---|---:|---:|---:|---:|');
  for (const v of VARIANTS) {
    const rs = results[v];
    console.log(`| ${v} | ${triple(rs.map((r) => r.median))} | ${triple(rs.map((r) => r.p99))} | ${triple(rs.map((r) => r.max))} | ${triple(rs.map((r) => r.over10), 0)} |`);
  }
  const medians = (v) => results[v].map((r) => r.median);
  console.log(`| short / long, median parse, paired | ${triple(pairedRatios(medians('long'), medians('short')))} | | | |`);
  console.log(`| reader / short, median parse, paired | ${triple(pairedRatios(medians('short'), medians('reader')))} | | | |`);
}

if (process.argv[2] === 'child') {
  measure(process.argv[3]).then((r) => process.send(r, () => process.exit(0)));
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
