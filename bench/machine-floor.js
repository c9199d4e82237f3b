// bench/machine-floor.js: how long this machine stretches work that takes about a millisecond,
// with nothing of metaroute running. Two measures, alternated over ROUNDS (default 3) of SECONDS
// (default 10) each:
//  - work: the same ~1 ms of CPU (a fixed integer loop, calibrated at start) run back to back;
//    each run timed. On a quiet core every run takes the calibrated time; anything longer is the
//    machine's (the hypervisor taking the virtual CPU, the kernel, other processes). For runs over
//    10 ms the thread's run-queue wait (/proc schedstat) tells other processes of this machine
//    (waiting for a core) from what no thread of it shows (steal, the host's other tenants).
//  - sleep: a 1 ms timer in an idle event loop, as bench/registry/probe.js ticks; the longest gap
//    between ticks is the least event-loop delay a server on this machine can show.
// Prints per round the run time's median / p99 / p99.9 / max and how many runs took over 10 ms,
// the timer's longest gap, and the machine's steal time (/proc/stat) over the round. A server's
// event loop runs thousands of such pieces of work per second: its maximum delay can be no lower
// than this floor, whatever its code does.
// Env: ROUNDS, SECONDS, NICE (e.g. -10, as the server in bench/registry/run.js; needs root).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const { percentile, fmt, triple } = require('./registry/stats');
const { timed } = require('./loop-gap');

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 10);
if (process.env.NICE) os.setPriority(Number(process.env.NICE));

let sink = 0;
function spin(iterations) {
  let x = sink;
  for (let i = 0; i < iterations; i++) x = (x * 31 + i) | 0;
  sink = x;
}

/** Iterations of `spin` that take about 1 ms here: the fastest of several tries, so a slow try does not inflate it. */
function calibrate() {
  const probe = 200_000;
  let best = Infinity;
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    spin(probe);
    best = Math.min(best, performance.now() - t);
  }
  return Math.round(probe / best);
}

/** Jiffies (1/100 s on Linux) all CPUs were stolen by the hypervisor so far; undefined when /proc/stat has no such field. */
function stealJiffies() {
  try {
    const steal = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/)[8];
    return steal === undefined ? undefined : Number(steal);
  } catch {
    return undefined;
  }
}

const schedFd = (() => {
  try {
    return fs.openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
  } catch {
    return undefined; // not Linux
  }
})();
const schedBuf = Buffer.alloc(128);
/** ms this thread has waited in the run queue so far (NaN without schedstat). */
function waitedMs() {
  if (schedFd === undefined) return NaN;
  const n = fs.readSync(schedFd, schedBuf, 0, schedBuf.length, 0);
  return Number(schedBuf.toString('latin1', 0, n).split(' ')[1]) / 1e6;
}

/** Runs of `spin` back to back for SECONDS: their times sorted, and for those over 10 ms how long each waited for a core. */
function work(iterations) {
  const times = [];
  const slowWaits = [];
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    const w = waitedMs();
    const t = performance.now();
    spin(iterations);
    const took = performance.now() - t;
    times.push(took);
    if (took > 10) slowWaits.push(waitedMs() - w);
  }
  return { times: times.sort((a, b) => a - b), slowWaits };
}

/** The longest gap a 1 ms timer sees over SECONDS of doing nothing. */
async function sleep() {
  return (await timed(() => new Promise((resolve) => setTimeout(resolve, SECONDS * 1000)))).maxDelayMs;
}

async function main() {
  const iterations = calibrate();
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const stealBefore = stealJiffies();
    const { times, slowWaits } = work(iterations);
    const stealAfterWork = stealJiffies();
    const longestGap = await sleep();
    const stealAfterSleep = stealJiffies();
    rounds.push({
      runs: times.length,
      median: percentile(times, 0.5),
      p99: percentile(times, 0.99),
      p999: percentile(times, 0.999),
      max: times[times.length - 1],
      over10: times.filter((t) => t > 10).length,
      over10Queued: slowWaits.filter((w) => w >= 1).length,
      longestGap,
      stealWorkMs: stealBefore === undefined ? NaN : (stealAfterWork - stealBefore) * 10,
      stealSleepMs: stealBefore === undefined ? NaN : (stealAfterSleep - stealAfterWork) * 10,
    });
  }
  console.log(`machine floor: ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${iterations} iterations per run of work (about 1 ms at its fastest); ${ROUNDS} rounds of ${SECONDS} s of work, then ${SECONDS} s of an idle 1 ms timer\n`);
  console.log('| round | runs | run ms: median | p99 | p99.9 | max | runs over 10 ms | of them queued for a core ≥ 1 ms | steal during work, ms (all CPUs) | idle timer: longest gap ms | steal meanwhile, ms |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  rounds.forEach((r, i) => console.log(`| ${i + 1} | ${r.runs} | ${fmt(r.median)} | ${fmt(r.p99)} | ${fmt(r.p999)} | ${fmt(r.max)} | ${r.over10} | ${r.over10Queued} | ${fmt(r.stealWorkMs, 0)} | ${fmt(r.longestGap)} | ${fmt(r.stealSleepMs, 0)} |`));
  console.log(`\nmax run ms over rounds (min / median / max): ${triple(rounds.map((r) => r.max))}; idle timer's longest gap: ${triple(rounds.map((r) => r.longestGap))}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
