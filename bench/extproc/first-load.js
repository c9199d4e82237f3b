// bench/extproc/first-load.js: the first second of ext_proc load on a freshly started metaroute,
// with its warm-up (`extProc.warmUpStreams`, default 3,000) and without (0). Each round starts
// each variant anew (A, B, A, B ...) on the bench world (bench/extproc/fixture.js, INSTANCES
// instances), drives RATE streams/s on one connection (h2load) for 3 s, and reads the latency of
// the streams started in the first second: p50, p99, max, and how many took over 200 ms (Envoy's
// default ext_proc `message_timeout`). h2load's --rps starts its streams in bursts (about 40 every
// 10 ms at 4,000/s), Envoy's arrive as requests do. Prints min / median / max over rounds and
// paired ratios. Env: RATE (4000), ROUNDS (5), INSTANCES (100), WARM_UP_STREAMS (the warm
// variant's count; the default's when unset). Needs `npm run build` and h2load.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeFixture, requestFrame } = require('./fixture');
const { startMetaroute } = require('./servers');
const { triple, pairedRatios, percentile } = require('../registry/stats');
const { runH2load, startedWithin } = require('../h2load');

const RATE = Number(process.env.RATE ?? 4000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const INSTANCES = Number(process.env.INSTANCES ?? 100);
const DRIVE_SECONDS = 3;
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-first-load-'));

function drive(port, payload, log) {
  return runH2load(['-c', '1', '-m', '256', '--rps', String(RATE), '-D', String(DRIVE_SECONDS), '--log-file', log, '-d', payload,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${port}/envoy.service.ext_proc.v3.ExternalProcessor/Process`]);
}

async function run(fixture, payload, name, round) {
  fs.rmSync(path.join(OUT, 'world', 'data'), { recursive: true, force: true }); // every run starts on an empty store
  const server = await startMetaroute(fixture);
  const startSeconds = (Date.now() - server.startedAt) / 1000;
  const log = path.join(OUT, `${name}-${round}.log`);
  try {
    await drive(server.port, payload, log);
  } finally {
    await server.stop();
  }
  // A stream answered with another HTTP status than 200 counts as past any bound (h2load sees 200 whatever the gRPC status).
  const first = startedWithin(log, 1).map((r) => (r.status === 200 ? r.ms : Infinity)).sort((a, b) => a - b);
  return { startSeconds, streams: first.length, p50: percentile(first, 0.5), p99: percentile(first, 0.99), max: first[first.length - 1], over200: first.filter((ms) => ms > 200).length };
}

async function main() {
  const payload = path.join(OUT, 'request.bin');
  fs.writeFileSync(payload, requestFrame());
  const world = writeFixture(path.join(OUT, 'world'), INSTANCES);
  const config = JSON.parse(fs.readFileSync(world.config, 'utf8'));
  const withWarmUp = (name, streams) => {
    const fixture = { ...world, config: path.join(OUT, 'world', `config-${name}.json`) };
    fs.writeFileSync(fixture.config, JSON.stringify({ ...config, ...(streams !== undefined && { extProc: { warmUpStreams: streams } }) }));
    return fixture;
  };
  const streams = process.env.WARM_UP_STREAMS === undefined ? undefined : Number(process.env.WARM_UP_STREAMS);
  const variants = [
    { name: streams === undefined ? 'warm-up (default)' : `warm-up of ${streams}`, fixture: withWarmUp('warm', streams), runs: [] },
    { name: 'no warm-up', fixture: withWarmUp('cold', 0), runs: [] },
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) v.runs.push(await run(v.fixture, payload, v.name, round));
  }

  console.log(`\nbench/extproc/first-load: a fresh metaroute (${world.rules} rules, ${INSTANCES} instances) driven at ${RATE} streams/s on one connection (h2load); the streams started in the first second; ${ROUNDS} rounds, alternated; ${os.cpus().length} cores; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; min / median / max\n`);
  const columns = [['start s', 'startSeconds'], ['streams', 'streams'], ['p50 ms', 'p50'], ['p99 ms', 'p99'], ['max ms', 'max'], ['over 200 ms', 'over200']];
  console.log(`| variant | ${columns.map(([title]) => title).join(' | ')} |`);
  console.log(`|---|${columns.map(() => '---:').join('|')}|`);
  for (const v of variants) console.log(`| ${v.name} | ${columns.map(([, key]) => triple(v.runs.map((r) => r[key]))).join(' | ')} |`);
  const [on, off] = variants;
  console.log('\npaired by round, warm-up / none, min / median / max:');
  for (const key of ['p50', 'p99', 'max']) console.log(`  first second ${key}: ${triple(pairedRatios(off.runs.map((r) => r[key]), on.runs.map((r) => r[key])))}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
