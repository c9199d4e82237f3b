// Preloaded into the server under test (`node -r probe.js`): answers the bench's IPC message
// 'stats' with the event-loop delay (perf_hooks.monitorEventLoopDelay), GC pauses
// (PerformanceObserver 'gc') and RSS since the previous 'stats', then starts over.
'use strict';
const { monitorEventLoopDelay, PerformanceObserver } = require('node:perf_hooks');

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let gcMax = 0;
let gcTotal = 0;
let gcCount = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMax = Math.max(gcMax, entry.duration);
    gcTotal += entry.duration;
    gcCount++;
  }
}).observe({ entryTypes: ['gc'] });

process.on('message', (message) => {
  if (message !== 'stats') return;
  process.send({
    loopMaxMs: loop.max / 1e6,
    loopP99Ms: loop.percentile(99) / 1e6,
    gcMaxMs: gcMax,
    gcTotalMs: gcTotal,
    gcCount,
    rssMiB: process.memoryUsage().rss / 1048576,
  });
  loop.reset();
  gcMax = gcTotal = gcCount = 0;
});
