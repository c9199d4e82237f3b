'use strict';
/**
 * The embedded store under write load: group-commit throughput and what it costs the event
 * loop (the thread that also answers ext_proc), with and without an online compaction.
 * Each round writes KEYS instance-sized records, then overwrites them until the log holds
 * 4x more records than keys, which starts a compaction while the writes go on.
 * Printed per round kind: writes/s and the event loop's max delay (monitorEventLoopDelay).
 *
 *   npm run build && node bench/store/embedded.js [keys=25000] [rounds=3]
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const { EmbeddedStore } = require(path.join(__dirname, '..', '..', 'dist', 'store', 'embedded'));
const { createLogger } = require(path.join(__dirname, '..', '..', 'dist', 'log', 'logger'));

const KEYS = Number(process.argv[2] ?? 25_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const IN_FLIGHT = 64;
const value = (i, pass) => JSON.stringify({ id: `10.0.${i >> 8}.${i & 255}:8080`, service: 'shop', namespace: 'default', host: `10.0.${i >> 8}.${i & 255}`, port: 8080, weight: 100, metadata: { version: pass % 2 ? 'gray' : 'blue', zone: 'z1' }, locality: {}, healthy: true, ephemeral: false, ttlSeconds: 15, pass });

/** Writes KEYS keys once (`fill`) or `passes` times over; returns writes/s, max loop delay, and the compaction's own window. */
async function run(dir, passes) {
  const logs = [];
  let compactStart;
  let compactEnd;
  const store = await EmbeddedStore.open(dir, {
    compactAfterRecords: 1024,
    // The store's own log lines tell when its compaction starts and ends.
    log: createLogger('info', {
      write: (line) => {
        const m = JSON.parse(line).msg;
        logs.push(m);
        if (m.includes('compacting')) compactStart = performance.now();
        if (m.includes('compacted')) compactEnd = performance.now();
      },
    }),
  });
  const whole = monitorEventLoopDelay({ resolution: 1 });
  whole.enable();
  // The longest gap a 1 ms timer sees while the compaction runs.
  let last = performance.now();
  let compactionMaxGapMs;
  const ticker = setInterval(() => {
    const at = performance.now();
    if (compactStart !== undefined && (compactEnd === undefined || last < compactEnd)) compactionMaxGapMs = Math.max(compactionMaxGapMs ?? 0, at - last);
    last = at;
  }, 1);
  const started = performance.now();
  let next = 0;
  const total = KEYS * passes;
  const worker = async () => {
    while (next < total) {
      const n = next++;
      await store.put(`instances/default/shop/${n % KEYS}`, value(n % KEYS, Math.floor(n / KEYS)));
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  // Let a compaction that started near the end finish while nothing else runs.
  while (compactStart !== undefined && compactEnd === undefined) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - started) / 1000;
  whole.disable();
  clearInterval(ticker);
  await store.close();
  return {
    rate: total / seconds,
    maxDelayMs: whole.max / 1e6,
    p99DelayMs: whole.percentile(99) / 1e6,
    compactionMs: compactEnd !== undefined ? compactEnd - compactStart : undefined,
    compactionMaxGapMs,
  };
}

/** The same monitor on an idle loop: on a shared machine, descheduling alone shows up as delay. */
async function idle() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, 1500));
  h.disable();
  return { maxDelayMs: h.max / 1e6, p99DelayMs: h.percentile(99) / 1e6 };
}

const summary = (xs) => {
  const v = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  if (!v.length) return 'n/a';
  return `min ${v[0].toFixed(1)}  median ${v[Math.floor(v.length / 2)].toFixed(1)}  max ${v[v.length - 1].toFixed(1)}`;
};

async function main() {
  const results = { idle: [], plain: [], compacting: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved: an idle loop, a round without compaction (one pass: every record live), then one with.
    results.idle.push(await idle());
    for (const kind of ['plain', 'compacting']) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-store-'));
      results[kind].push(await run(dir, kind === 'plain' ? 1 : 5));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`embedded store: ${KEYS} keys of ~250 bytes, ${IN_FLIGHT} writes in flight, ${ROUNDS} rounds interleaved`);
  for (const kind of ['idle', 'plain', 'compacting']) {
    const r = results[kind];
    if (kind !== 'idle') console.log(`  ${kind.padEnd(10)} writes/s: ${summary(r.map((x) => x.rate))}`);
    console.log(`  ${kind.padEnd(10)} event-loop delay p99 (ms): ${summary(r.map((x) => x.p99DelayMs))}; max (ms): ${summary(r.map((x) => x.maxDelayMs))}`);
    if (kind === 'compacting') {
      console.log(`  ${kind.padEnd(10)} compaction wall time (ms): ${summary(r.map((x) => x.compactionMs))}`);
      console.log(`  ${kind.padEnd(10)} longest 1 ms-timer gap during the compaction (ms): ${summary(r.map((x) => x.compactionMaxGapMs))}`);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
