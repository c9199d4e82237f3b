// Preloaded into the server under test (`node -r probe.js`): answers the bench's IPC message
// 'stats' with the event-loop delay (perf_hooks.monitorEventLoopDelay) and GC pauses
// (PerformanceObserver 'gc': the longest, their total and count, and scavenges apart) since the
// previous 'stats', then starts over; and with RSS, the heap's used and reserved sizes and the
// memory outside the heap at that moment, and the peak RSS since the process started.
// It also tells a busy loop from a starved one: a 1 ms timer reads the main thread's
// /proc schedstat (time waiting for a CPU) at every tick, so each gap between ticks splits into
// time it waited for a core (other processes on a shared machine) and the rest, its own
// (running JS, GC and I/O callbacks, blocked in a system call, or its virtual CPU taken by the
// hypervisor: steal shows in no thread's schedstat). `ownMaxMs` is the longest gap's own share.
// `jsMaxMs` is the most any gap had of its own outside garbage collection (less the GC pauses
// inside it); `cpuMaxMs` the most CPU time the process used in a gap, outside GC pauses
// (getrusage at every tick: exact, every thread counted, so an upper bound on what the code ran).
// A stall with much more own time than CPU is one the thread spent neither running nor queued.
// The wait is exact: the kernel adds it when the thread gets a core back (the time it ran is
// added only at scheduler ticks, 4 ms here, so the own share is the gap less the wait, not the
// running time schedstat shows).
// With PROBE_STALLS_OUT set, each 'stats' also appends the stalls over 10 ms since the one before
// to that file, one JSON line each ({stalls: [{fromUs, toUs, ownMs, cpuMs, gcMs}]}; run.js asks at the
// start and end of every phase, so lines alternate between its phases and what ran between them), on the clock of
// `--cpu-prof`'s timestamps (CLOCK_MONOTONIC, µs): bench/registry/stall-profile.js shows what
// ran in them.
'use strict';
// Worker threads inherit `-r probe.js`: one there would wake 1,000 times a second beside the server.
if (!require('node:worker_threads').isMainThread) return;
const cluster = require('node:cluster');
const fs = require('node:fs');
const v8 = require('node:v8');
const { constants, monitorEventLoopDelay, PerformanceObserver, performance } = require('node:perf_hooks');

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let gcMax = 0;
let gcTotal = 0;
let gcCount = 0;
let scavengeMax = 0; // young generation (minor GC)
let scavengeCount = 0;
let scavengeTotal = 0;
let majorCount = 0;
/**
 * How much the old generation grew from one GC to the next, summed (mark-compacts, which shrink
 * it, left out): what scavenges promoted and what went there directly (large objects). It is what
 * brings the next mark-compact, and it depends on the server's work, not on this machine's speed.
 */
let oldGrowth = 0;
let oldUsed = oldGenerationUsed();
function oldGenerationUsed() {
  let used = 0;
  for (const space of v8.getHeapSpaceStatistics()) if (space.space_name === 'old_space' || space.space_name === 'large_object_space') used += space.space_used_size;
  return used;
}
const pauses = []; // [start, end] of this phase's GC pauses, to find those inside a stall
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    pauses.push([entry.startTime, entry.startTime + entry.duration]);
    gcMax = Math.max(gcMax, entry.duration);
    const used = oldGenerationUsed();
    if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorCount++;
    else oldGrowth += Math.max(0, used - oldUsed);
    oldUsed = used;
    if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      scavengeMax = Math.max(scavengeMax, entry.duration);
      scavengeTotal += entry.duration;
      scavengeCount++;
    }
    gcTotal += entry.duration;
    gcCount++;
  }
}).observe({ entryTypes: ['gc'] });

let schedFd;
try {
  schedFd = fs.openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
} catch {
  schedFd = undefined; // not Linux: only the figures above
}
const buf = Buffer.alloc(128);
function sched() {
  const n = fs.readSync(schedFd, buf, 0, buf.length, 0);
  const [run, wait] = buf.toString('latin1', 0, n).split(' ');
  return { run: Number(run) / 1e6, wait: Number(wait) / 1e6 };
}
let ownMax = 0; // ms of its own (not waiting for a core) in the gap between ticks with the most
let gapMax = 0;
let waitInGaps = 0; // ms waited for a core during gaps over 10 ms
const stalls = []; // {from, to, own, cpu} of this phase's gaps over 10 ms
let last;
let lastAt = performance.now();
let lastCpuUs = 0;
/** CPU µs of every thread of the process (getrusage: exact, the running thread's slice included). */
const processCpuUs = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
if (schedFd !== undefined) {
  last = sched();
  lastCpuUs = processCpuUs();
  setInterval(() => {
    const now = performance.now();
    const s = sched();
    const cpuUs = processCpuUs();
    const gap = now - lastAt;
    if (gap > 10) {
      const own = Math.max(0, gap - (s.wait - last.wait));
      ownMax = Math.max(ownMax, own);
      waitInGaps += s.wait - last.wait;
      if (stalls.length < 10000) stalls.push({ from: lastAt, to: now, own, cpu: (cpuUs - lastCpuUs) / 1000 });
    }
    gapMax = Math.max(gapMax, gap);
    last = s;
    lastAt = now;
    lastCpuUs = cpuUs;
  }, 1).unref();
}

/** RSS (now, and the peak since start) and where it is: the JS heap (used, and reserved), and memory outside it (typed arrays, buffers). */
function memoryMiB() {
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
  const peakRssMiB = process.resourceUsage().maxRSS / 1024; // kilobytes
  return { rssMiB: rss / 1048576, peakRssMiB, heapUsedMiB: heapUsed / 1048576, heapTotalMiB: heapTotal / 1048576, externalMiB: external / 1048576 };
}

/**
 * Per stall, its own share and the CPU the process used in it, each less the GC pauses inside it
 * (GC entries arrive after the stall, so this is worked out when asked); the most of each. The
 * own share counts any time the thread neither ran nor waited in the run queue: blocked, or its
 * virtual CPU taken by the hypervisor (steal, which no thread's schedstat shows). The CPU
 * counts every thread (GC helpers, libuv's pool), so it bounds what the code ran from above.
 */
function outsideGcMax() {
  let own = 0;
  let cpu = 0;
  for (const stall of stalls) {
    const gc = gcWithin(stall);
    own = Math.max(own, stall.own - gc);
    cpu = Math.max(cpu, Math.min(stall.own, stall.cpu) - gc);
  }
  return { jsMaxMs: own, cpuMaxMs: cpu };
}

/** ms of this phase's GC pauses inside a stall. */
function gcWithin({ from, to }) {
  let gc = 0;
  for (const [start, end] of pauses) gc += Math.max(0, Math.min(end, to) - Math.max(start, from));
  return gc;
}

/** performance.now() ms as CLOCK_MONOTONIC µs (the clock of a CPU profile's timestamps). */
const monotonicOffsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
const monotonicUs = (ms) => Math.round(ms * 1000 + monotonicOffsetUs);

/** This phase's stalls with their GC share, for PROBE_STALLS_OUT. */
function stallLine() {
  return JSON.stringify({
    stalls: stalls.map((stall) => ({
      fromUs: monotonicUs(stall.from),
      toUs: monotonicUs(stall.to),
      ownMs: +stall.own.toFixed(2),
      cpuMs: +stall.cpu.toFixed(2),
      gcMs: +gcWithin(stall).toFixed(2),
    })),
  });
}

let cpuFrom = process.cpuUsage();
let mainFrom = schedFd === undefined ? 0 : sched().run;

/** This process's figures since the last call, and starts over. */
function collect() {
  const cpu = process.cpuUsage(cpuFrom);
  cpuFrom = process.cpuUsage();
  const mainRun = schedFd === undefined ? 0 : sched().run;
  const figures = {
    loopMaxMs: loop.max / 1e6,
    loopP99Ms: loop.percentile(99) / 1e6,
    ownMaxMs: ownMax,
    ...outsideGcMax(),
    cpuMs: (cpu.user + cpu.system) / 1000, // every thread: main, GC helpers, libuv's pool
    mainCpuMs: mainRun - mainFrom,
    waitInGapsMs: waitInGaps,
    gcMaxMs: gcMax,
    scavengeMaxMs: scavengeMax,
    gcTotalMs: gcTotal,
    gcCount,
    scavengeCount,
    scavengeTotalMs: scavengeTotal,
    majorCount,
    oldGrowthMiB: oldGrowth / 1048576,
    ...memoryMiB(),
  };
  if (process.env.PROBE_STALLS_OUT && !cluster.isWorker) fs.appendFileSync(process.env.PROBE_STALLS_OUT, stallLine() + '\n');
  loop.reset();
  gcMax = gcTotal = gcCount = scavengeMax = scavengeCount = scavengeTotal = majorCount = oldGrowth = 0;
  ownMax = gapMax = waitInGaps = 0;
  stalls.length = pauses.length = 0;
  mainFrom = mainRun;
  // Answering took a while (outsideGcMax): that gap is the probe's, not the next phase's.
  if (schedFd !== undefined) {
    last = sched();
    lastCpuUs = processCpuUs();
  }
  lastAt = performance.now();
  return figures;
}

// With `workers: N` the server's ext_proc workers (node:cluster, forked with this preload) are
// asked through the primary: its answer carries theirs as `workers` (the threads serving ext_proc).
const WORKER_TIMEOUT_MS = 2000;
if (cluster.isWorker) {
  process.on('message', (message) => {
    if (message?.probe === 'stats') process.send({ probe: 'stats', figures: collect() });
  });
} else {
  process.on('message', async (message) => {
    if (message !== 'stats') return;
    const figures = collect();
    const workers = await Promise.all(Object.values(cluster.workers ?? {}).filter((w) => w.isConnected()).map(askWorker));
    process.send(workers.length > 0 ? { ...figures, workers: workers.filter(Boolean) } : figures);
  });
}

function askWorker(worker) {
  return new Promise((resolve) => {
    const done = (figures) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      resolve(figures);
    };
    const onMessage = (message) => message?.probe === 'stats' && done(message.figures);
    const timer = setTimeout(() => done(undefined), WORKER_TIMEOUT_MS);
    worker.on('message', onMessage);
    worker.send({ probe: 'stats' }, (error) => error && done(undefined)); // gone meanwhile: no figures
  });
}
