// The longest gap a 1 ms timer sees while some work runs: how long the event loop was held.
'use strict';
const { performance } = require('node:perf_hooks');

/** Runs fn; returns its result, how long it took, and the longest gap a 1 ms timer saw (its last stretch included). */
async function timed(fn) {
  let last = performance.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  const started = last;
  const result = await fn();
  const ended = performance.now();
  clearInterval(ticker);
  return { result, ms: ended - started, maxDelayMs: Math.max(maxGap, ended - last) };
}

module.exports = { timed };
