// bench/extproc: h2load drives 64 concurrent streams on one HTTP/2 connection, in interleaved
// rounds (every server up for the whole bench, measured in turn, ROUNDS times), against
// (a) a bare node:http2 gRPC handler answering the same bytes (the baseline) and
// (b) metaroute with 1,000 rules over 100 services, at 100 and at 100,000 instances, and
// (c) grpc-js alone on metaroute's call-layer path with no logic: the library's ceiling.
// Prints req/s, CPU per request and p50/p99 (min / median / max over rounds) and paired
// ratios per round. Env: BENCH_REQUESTS, ROUNDS, SCALES (instances, e.g. 100,100000). Needs `npm run build`
// and h2load (Debian package nghttp2-client).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { writeFixture, requestFrame } = require('./fixture');
const { startFloors, startMetaroute } = require('./servers');
const { envoyRoot } = require('../../dist/protos/root');
const { triple, pairedRatios } = require('../registry/stats');

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 100000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SCALES = (process.env.SCALES ?? '100,100000').split(',').map(Number);
const WARMUP = Math.max(10000, REQUESTS / 10);
const STREAMS = 64;
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-'));

function h2load(port, requests, payload, logFile) {
  const args = ['-n', String(requests), '-c', '1', '-m', String(STREAMS), '-d', payload,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${port}/envoy.service.ext_proc.v3.ExternalProcessor/Process`];
  if (logFile) args.unshift('--log-file', logFile);
  const out = execFileSync('h2load', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)[1]);
  const [, done, ok, failed] = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(out);
  if (Number(failed) > 0 || Number(ok) !== requests) throw new Error(`h2load: ${done} done, ${ok} succeeded, ${failed} failed\n${out}`);
  return rps;
}

function percentiles(logFile) {
  const micros = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((line) => Number(line.split('\t')[2])).sort((a, b) => a - b);
  const at = (q) => micros[Math.min(micros.length - 1, Math.floor(q * micros.length))] / 1000;
  return { p50: at(0.5), p99: at(0.99) };
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function measure(name, port, payload, pid) {
  h2load(port, WARMUP, payload);
  const log = path.join(OUT, `${name}.log`);
  const cpuBefore = cpuSeconds(pid);
  const rps = h2load(port, REQUESTS, payload, log);
  const cpuMicros = ((cpuSeconds(pid) - cpuBefore) / REQUESTS) * 1e6;
  return { name, rps, cpuMicros, ...percentiles(log) };
}

/** Checks metaroute really routes the benchmark request (a gRPC OK answer with envoy.lb set). */
function checkAnswer(port, frame) {
  return new Promise((resolve, reject) => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest('/envoy.service.ext_proc.v3.ExternalProcessor/Process', (b) => b, (b) => b);
    call.on('data', (answer) => {
      const decoded = envoyRoot().lookupType('envoy.service.ext_proc.v3.ProcessingResponse').decode(answer);
      if (!decoded.dynamic_metadata) reject(new Error('metaroute did not route the benchmark request'));
    });
    call.on('error', reject);
    call.on('end', () => { client.close(); resolve(); });
    call.write(frame.subarray(5));
    call.end();
  });
}

async function main() {
  const frame = requestFrame();
  const payload = path.join(OUT, 'request.bin');
  fs.writeFileSync(payload, frame);
  const variants = [];

  // Every server runs for the whole bench; the rounds measure them in turn (A, B, C, D, A, B ...),
  // so a slow minute of the shared machine hits every variant, not one.
  variants.push(...(await startFloors()));
  for (const instances of SCALES) {
    const fixture = writeFixture(path.join(OUT, `world-${instances}`), instances);
    const server = await startMetaroute(fixture);
    const loadSeconds = (Date.now() - server.startedAt) / 1000;
    await checkAnswer(server.port, frame);
    const rss = () => Number(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;
    variants.push({ ...server, rss, loadSeconds });
  }
  for (const v of variants) h2load(v.port, WARMUP, payload);
  for (const v of variants) v.runs = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of variants) v.runs.push(measure(v.name, v.port, payload, v.pid));
  }
  for (const v of variants) v.rssMiB = v.rss?.();
  await Promise.all(variants.map((v) => v.stop()));

  const col = (v, key) => triple(v.runs.map((r) => r[key]));
  console.log(`\nbench/extproc: ${REQUESTS} requests per run, ${STREAMS} concurrent streams on one connection (h2load), ${ROUNDS} interleaved rounds, ${os.cpus().length} cores; min / median / max\n`);
  console.log('| server | req/s | server CPU µs/request | p50 ms | p99 ms | RSS MiB | load s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const v of variants) {
    console.log(`| ${v.name} | ${col(v, 'rps')} | ${col(v, 'cpuMicros')} | ${col(v, 'p50')} | ${col(v, 'p99')} | ${v.rssMiB ? v.rssMiB.toFixed(0) : '-'} | ${v.loadSeconds ? v.loadSeconds.toFixed(1) : '-'} |`);
  }
  const rps = (v) => v.runs.map((r) => r.rps);
  const [base, bare, ...metaroutes] = variants;
  console.log('\npaired req/s ratios (same round), min / median / max:');
  for (const m of metaroutes) {
    console.log(`  ${m.name} / baseline: ${triple(pairedRatios(rps(base), rps(m)))}`);
    console.log(`  ${m.name} / grpc-js no logic: ${triple(pairedRatios(rps(bare), rps(m)))} (goal at 100,000 instances: 0.85)`);
  }
  const small = metaroutes[0];
  for (const large of metaroutes.slice(1)) console.log(`  ${large.name} / ${small.name}: ${triple(pairedRatios(rps(small), rps(large)))} (goal: 0.9 or better)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
