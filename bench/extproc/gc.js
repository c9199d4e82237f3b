// bench/extproc/gc.js: what V8's garbage collector does while ext_proc streams arrive at a fixed
// rate (one stream per request, as Envoy opens them), in metaroute and in the two floors
// (bench/extproc/servers.js: a bare node:http2 handler, grpc-js with no logic), so what is
// Node's and grpc-js's shows apart from what is metaroute's. Every server runs for the whole
// bench with --trace-gc-nvp; each is driven in turn (A, B, C, D, A, B ...) at RATE requests/s for
// SECONDS, ROUNDS times, after one WARMUP_SECONDS drive each: the first load after start, shown
// on its own, because V8's first mark-compact under load holds everything since the start. Each
// window follows SETTLE_SECONDS of the same load, unmeasured: a server idle while the others ran
// had its heap shrunk by V8 meanwhile, and took seconds to settle again.
// h2load's --rps starts streams in bursts (about 40 every 10 ms at 4,000/s), so its latencies
// run longer than Envoy's evenly arriving requests would meet.
// Per server and window, from the GC lines of its main isolate inside the window: scavenges and
// their pauses; bytes allocated and promoted per request; mark-compacts, their pauses, and the
// part of them spent finalizing external strings (Node makes every HTTP/2 header value one) and
// evacuating. Prints min / median / max over rounds and paired ratios against grpc-js with no
// logic. Env: RATE (4000), SECONDS (15), ROUNDS (3), WARMUP_SECONDS (10), SETTLE_SECONDS (5),
// SCALES (instances, 100,100000), COMPARE_ARGS (node flags) or COMPARE_ROOT (another checkout,
// built): at each scale a second metaroute runs with those flags or that build, driven in the
// same rounds, e.g. COMPARE_ARGS="--no-allocation-site-pretenuring" or COMPARE_ROOT=../base;
// PHASES=1 prints the median of each --trace-gc-nvp phase of the windows' mark-compacts, the
// largest first, to see which grows with the instances or the build. Needs `npm run build` and
// h2load (Debian package nghttp2-client).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeFixture, requestFrame } = require('./fixture');
const { startFloors, startMetaroute } = require('./servers');
const { triple, pairedRatios, percentile } = require('../registry/stats');
const { runH2load, startedWithin } = require('../h2load');

const RATE = Number(process.env.RATE ?? 4000);
const SECONDS = Number(process.env.SECONDS ?? 15);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARMUP_SECONDS = Number(process.env.WARMUP_SECONDS ?? 10);
const SETTLE_SECONDS = Number(process.env.SETTLE_SECONDS ?? 5);
const SCALES = (process.env.SCALES ?? '100,100000').split(',').map(Number);
const PHASES = process.env.PHASES === '1';
const COMPARE_ARGS = process.env.COMPARE_ARGS ? process.env.COMPARE_ARGS.split(/\s+/).filter(Boolean) : undefined;
const COMPARE_ROOT = process.env.COMPARE_ROOT || undefined;
if (COMPARE_ARGS && COMPARE_ROOT) throw new Error('COMPARE_ARGS or COMPARE_ROOT, not both');
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-gc-bench-'));
const SERVER_OPTIONS = { nodeArgs: ['--trace-gc-nvp'], keepStdout: true };

/** h2load at RATE streams/s on one connection for `seconds`; asynchronous, so the bench keeps reading the servers' stdout (a full pipe would stall a server's GC trace, and the server). */
async function drive(port, payload, seconds) {
  const log = path.join(OUT, `h2load-${port}.log`);
  const out = await runH2load(['-c', '1', '-m', '256', '--rps', String(RATE), '-D', String(seconds), '--log-file', log, '-d', payload,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${port}/envoy.service.ext_proc.v3.ExternalProcessor/Process`]);
  const counts = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(out);
  const ms = startedWithin(log, Infinity).map((r) => r.ms).sort((a, b) => a - b);
  fs.rmSync(log);
  return { requests: Number(counts[2]), failed: Number(counts[1]) - Number(counts[2]), p99: percentile(ms, 0.99), max: ms[ms.length - 1] };
}

/** The `--trace-gc-nvp` lines of a server's main isolate (the first to print): time since its start (ms) and fields. */
function gcEvents(stdout) {
  const events = [];
  let main;
  for (const line of stdout.split('\n')) {
    const m = /^\[\d+:(0x[0-9a-f]+)\]\s+([\d.]+) ms: (.*)$/.exec(line);
    if (!m) continue;
    main ??= m[1];
    if (m[1] !== main) continue; // a worker thread's isolate
    const fields = {};
    for (const pair of m[3].split(' ')) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    events.push({ atMs: Number(m[2]), kind: fields.gc, fields, f: (name) => Number.parseFloat(fields[name] ?? '0') });
  }
  return events;
}

/** GC figures of one window: its requests' share of what was allocated and promoted, and the pauses. */
function windowFigures(events, window) {
  const inside = events.filter((e) => e.atMs >= window.fromMs && e.atMs <= window.toMs);
  const scavenges = inside.filter((e) => e.kind === 's');
  const compactions = inside.filter((e) => e.kind === 'mc');
  const sum = (list, name) => list.reduce((total, e) => total + e.f(name), 0);
  const pauses = compactions.map((e) => e.f('pause')).sort((a, b) => a - b);
  const longest = compactions.reduce((worst, e) => (worst && worst.f('pause') >= e.f('pause') ? worst : e), undefined);
  const seconds = (window.toMs - window.fromMs) / 1000;
  return {
    p99: window.p99, max: window.max,
    scavengesPerSecond: scavenges.length / seconds,
    scavengeMsPerSecond: sum(scavenges, 'pause') / seconds,
    // Since the GC before it, so every kind counts (a mark-compact evacuates the young generation too).
    allocatedKiB: sum(inside, 'allocated') / window.requests / 1024,
    promotedKiB: sum(inside, 'promoted') / window.requests / 1024,
    compactionsPerSecond: compactions.length / seconds,
    compactionMsPerSecond: sum(compactions, 'pause') / seconds,
    compactionMedianMs: pauses.length ? percentile(pauses, 0.5) : 0,
    compactionMaxMs: pauses.length ? pauses[pauses.length - 1] : 0,
    externalStringsShare: pauses.length ? sum(compactions, 'clear.external_string_table') / sum(compactions, 'pause') : 0,
    longest: longest && { pause: longest.f('pause'), externalStrings: longest.f('clear.external_string_table'), evacuate: longest.f('evacuate'), mark: longest.f('mark') },
  };
}

async function measure(server, payload, seconds) {
  const fromMs = Date.now() - server.startedAt;
  const result = await drive(server.port, payload, seconds);
  if (result.failed > 0) throw new Error(`${server.name}: ${result.failed} streams failed`);
  return { ...result, fromMs, toMs: Date.now() - server.startedAt };
}

async function main() {
  const payload = path.join(OUT, 'request.bin');
  fs.writeFileSync(payload, requestFrame());
  const servers = [];
  try {
    await runBench(servers, payload);
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop())); // none left running
    throw error;
  }
}

/** Starts the servers into `servers` (so main can stop them on a failure), drives them and prints the figures. */
async function runBench(servers, payload) {
  servers.push(...(await startFloors(SERVER_OPTIONS)));
  for (const instances of SCALES) {
    servers.push(await startMetaroute(writeFixture(path.join(OUT, `world-${instances}`), instances), SERVER_OPTIONS));
    if (COMPARE_ARGS || COMPARE_ROOT) {
      const fixture = writeFixture(path.join(OUT, `world-${instances}-compared`), instances); // a data directory of its own
      const compared = await startMetaroute(fixture, { ...SERVER_OPTIONS, nodeArgs: [...SERVER_OPTIONS.nodeArgs, ...(COMPARE_ARGS ?? [])], root: COMPARE_ROOT && path.resolve(COMPARE_ROOT) });
      servers.push({ ...compared, name: `${compared.name}, ${COMPARE_ROOT ? path.basename(path.resolve(COMPARE_ROOT)) : COMPARE_ARGS.join(' ')}` });
    }
  }

  for (const s of servers) s.warmup = await measure(s, payload, WARMUP_SECONDS);
  for (const s of servers) s.windows = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of servers) {
      if (SETTLE_SECONDS > 0) await measure(s, payload, SETTLE_SECONDS);
      s.windows.push(await measure(s, payload, SECONDS));
    }
  }
  for (const s of servers) {
    const events = gcEvents(await s.stop());
    if (events.length === 0) throw new Error(`${s.name}: no --trace-gc-nvp lines read`);
    s.first = windowFigures(events, s.warmup);
    s.rounds = s.windows.map((w) => windowFigures(events, w));
    s.compactions = events.filter((e) => e.kind === 'mc' && s.windows.some((w) => e.atMs >= w.fromMs && e.atMs <= w.toMs));
  }

  const fmt = (x) => x.toFixed(1);
  console.log(`\nbench/extproc/gc: ext_proc at ${RATE} streams/s on one connection (h2load), ${SECONDS} s windows after ${SETTLE_SECONDS} s of the same load, ${ROUNDS} interleaved rounds after a ${WARMUP_SECONDS} s first load each; ${os.cpus().length} cores; load average ${os.loadavg().map(fmt).join(' ')}\n`);
  console.log('The first load after start: its longest mark-compact pause (ms), and of it finalizing external strings, evacuating, marking\n');
  console.log('| server | mark-compacts | longest pause | external strings | evacuation | marking | client max ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const s of servers) {
    const l = s.first.longest;
    console.log(`| ${s.name} | ${fmt(s.first.compactionsPerSecond * WARMUP_SECONDS)} | ${l ? `${fmt(l.pause)} | ${fmt(l.externalStrings)} | ${fmt(l.evacuate)} | ${fmt(l.mark)}` : '- | - | - | -'} | ${fmt(s.first.max)} |`);
  }
  const columns = [
    ['client p99 ms', 'p99'], ['client max ms', 'max'], ['scavenges/s', 'scavengesPerSecond'], ['scavenge pauses ms/s', 'scavengeMsPerSecond'],
    ['allocated KiB/stream', 'allocatedKiB'], ['promoted KiB/stream', 'promotedKiB'], ['mark-compacts/s', 'compactionsPerSecond'],
    ['mark-compact pause median ms', 'compactionMedianMs'], ['mark-compact pause max ms', 'compactionMaxMs'], ['external strings, share of mark-compact pauses', 'externalStringsShare'],
  ];
  console.log('\nThen, min / median / max over rounds\n');
  console.log(`| server | ${columns.map(([title]) => title).join(' | ')} |`);
  console.log(`|---|${columns.map(() => '---:').join('|')}|`);
  for (const s of servers) console.log(`| ${s.name} | ${columns.map(([, key]) => triple(s.rounds.map((r) => r[key]))).join(' | ')} |`);
  const bare = servers[1];
  const pauseMsPerSecond = (s) => s.rounds.map((r) => r.scavengeMsPerSecond + r.compactionMsPerSecond);
  console.log('\npaired by round against grpc-js with no logic, min / median / max:');
  for (const s of servers.slice(2)) {
    console.log(`  ${s.name}: promoted per stream ${triple(pairedRatios(bare.rounds.map((r) => r.promotedKiB), s.rounds.map((r) => r.promotedKiB)))}, GC pause time per second ${triple(pairedRatios(pauseMsPerSecond(bare), pauseMsPerSecond(s)))}`);
  }
  if (PHASES) printPhases(servers);
}

/** The median of each phase over the servers' windowed mark-compacts, as a table of the phases largest in any server. */
function printPhases(servers) {
  const medians = servers.map((s) => {
    const byPhase = new Map();
    for (const e of s.compactions) {
      for (const [name, value] of Object.entries(e.fields)) {
        const ms = Number.parseFloat(value);
        if (name === 'gc' || Number.isNaN(ms)) continue;
        if (!byPhase.has(name)) byPhase.set(name, []);
        byPhase.get(name).push(ms);
      }
    }
    return new Map([...byPhase].map(([name, list]) => [name, percentile(list.sort((a, b) => a - b), 0.5)]));
  });
  // The scopes of the pause itself (not the concurrent work, counts, ratios or time between GCs).
  const timed = [...new Set(medians.flatMap((m) => [...m.keys()]))].filter((name) => /^(pause|time_to_safepoint|heap\.|clear|complete|evacuate|finish|mark|sweep|incremental(\.|_longest_step))/.test(name));
  const largest = timed.sort((a, b) => Math.max(...medians.map((m) => m.get(b) ?? 0)) - Math.max(...medians.map((m) => m.get(a) ?? 0))).slice(0, 30);
  console.log(`\nmark-compact phases, median ms over the windows' mark-compacts (${servers.map((s) => s.compactions.length).join(' / ')} of them)\n`);
  console.log(`| phase | ${servers.map((s) => s.name).join(' | ')} |`);
  console.log(`|---|${servers.map(() => '---:').join('|')}|`);
  for (const name of largest) console.log(`| ${name} | ${medians.map((m) => (m.has(name) ? m.get(name).toFixed(2) : '-')).join(' | ')} |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
