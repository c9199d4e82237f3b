// bench/registry/workers.js: `workers: 1` vs `workers: 2`, interleaved (1, 2, 1, 2 ...), with h2load
// (4 connections x 16 streams, competing for the same cores) against the ext_proc port.
// World: bench/extproc's fixture (100 services, 1,000 rules) at INSTANCES instances (default 100).
// Prints req/s min / median / max per variant and the paired ratio. Needs `npm run build` and h2load.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { freePort, grpcFrame, untilServing } = require('../serving');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeFixture, SERVICES } = require('../extproc/fixture');
const { envoyRoot } = require('../../dist/protos/root');
const { triple, pairedRatios } = require('./stats');

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 60000);
const INSTANCES = Number(process.env.INSTANCES ?? 100);
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-workers-'));
const MAIN = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

function payload() {
  const T = envoyRoot().lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
  const headers = { ':method': 'GET', ':path': '/api/items?uid=12345', ':authority': `svc-${SERVICES - 1}.default`, ':scheme': 'http', 'x-user-role': 'staff' };
  const msg = T.encode(T.fromObject({ request_headers: { headers: { headers: Object.entries(headers).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) }, end_of_stream: true } })).finish();
  const file = path.join(OUT, 'request.bin');
  fs.writeFileSync(file, grpcFrame(msg));
  return file;
}

function h2load(port, requests, file) {
  const out = execFileSync('h2load', ['-n', String(requests), '-c', '4', '-m', '16', '-d', file, '-H', 'content-type: application/grpc', '-H', 'te: trailers',
    `http://127.0.0.1:${port}/envoy.service.ext_proc.v3.ExternalProcessor/Process`], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const [, ok, failed] = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(out);
  if (Number(failed) > 0 || Number(ok) !== requests) throw new Error(`h2load: ${ok} succeeded, ${failed} failed`);
  return Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)[1]);
}

async function serve(fixture, workers) {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN, 'serve', '--config', fixture.config], {
    env: { ...process.env, METAROUTE_WORKERS: String(workers), METAROUTE_EXTPROC_PORT: String(port), METAROUTE_DATA_DIR: path.join(OUT, `data-${workers}-${Date.now()}`) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await untilServing(child);
  return { child, port };
}

async function main() {
  const fixture = writeFixture(path.join(OUT, 'world'), INSTANCES);
  const file = payload();
  const rps = { 1: [], 2: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const workers of [1, 2]) {
      const { child, port } = await serve(fixture, workers);
      h2load(port, Math.max(5000, REQUESTS / 10), file); // warm-up
      rps[workers].push(h2load(port, REQUESTS, file));
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
  console.log(`\nbench/registry/workers: ${REQUESTS} requests per run, h2load 4 connections x 16 streams on the same ${os.cpus().length} cores, ${ROUNDS} interleaved rounds; ${fixture.rules} rules, ${INSTANCES} instances\n`);
  console.log('| workers | req/s min / median / max |');
  console.log('|---:|---:|');
  for (const w of [1, 2]) console.log(`| ${w} | ${triple(rps[w])} |`);
  console.log(`\nworkers 2 / workers 1, paired by round: ${triple(pairedRatios(rps[1], rps[2]))}`);
  fs.rmSync(OUT, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
