// bench/extproc/client-names.js: what extProc.clients.certificateNames costs an ext_proc stream.
// Two `metaroute serve` processes with mutual TLS on ext_proc (bench/extproc's world at 100
// instances, certificates from scripts/dev-certs.sh): one admits any certificate the CA signed,
// one checks the client certificate's names (`certificateNames: [envoy]`). Both run for the
// whole bench and are measured in turn (A, B, A, B ...) by the same node:http2 client: one TLS
// connection presenting the `envoy` certificate, 64 concurrent streams, one stream per request
// (h2load cannot present a client certificate). Prints req/s and server CPU µs per request
// (`/proc/<pid>/stat`), min / median / max over rounds, and paired ratios; and, for scale, what
// reading the peer certificate once costs (what the check would add per stream were it not
// kept per connection). Env: BENCH_REQUESTS (per run), ROUNDS. Needs `npm run build` and openssl.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const http2 = require('node:http2');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { freePort, untilServing } = require('../serving');
const { writeFixture, requestFrame } = require('./fixture');
const { triple, pairedRatios } = require('../registry/stats');

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 30000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const WARMUP = Math.max(5000, REQUESTS / 5);
const STREAMS = 64;
const ROOT = path.join(__dirname, '..', '..');
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bench-names-'));
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
const PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';

function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function startMetaroute(dir, fixture, clients) {
  const certs = path.join(OUT, 'certs', 'metaroute');
  const config = JSON.parse(fs.readFileSync(fixture.config, 'utf8'));
  config.dataDir = path.join(dir, 'data');
  config.extProc = { tls: { certFile: path.join(certs, 'tls.crt'), keyFile: path.join(certs, 'tls.key'), clientCaFile: path.join(certs, 'ca.crt') }, clients };
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), 'serve', '--config', file], {
    env: { ...process.env, METAROUTE_EXTPROC_PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  await untilServing(child);
  return { child, port };
}

/** A TLS connection with the `envoy` client certificate, as Envoy's metaroute_ext_proc cluster opens it. */
function connect(port) {
  const certs = path.join(OUT, 'certs', 'envoy');
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    ca: fs.readFileSync(path.join(certs, 'ca.crt')), cert: fs.readFileSync(path.join(certs, 'tls.crt')), key: fs.readFileSync(path.join(certs, 'tls.key')),
    servername: 'metaroute', peerMaxConcurrentStreams: STREAMS,
  });
  session.on('error', () => {});
  return session;
}

/** `n` streams, `STREAMS` at a time, on one connection; rejects unless every one ends grpc-status 0 with an answer. */
function drive(port, n, frame) {
  const session = connect(port);
  return new Promise((resolve, reject) => {
    let started = 0;
    let done = 0;
    const begin = process.hrtime.bigint();
    const one = () => {
      started++;
      const stream = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers' });
      let bytes = 0;
      stream.on('data', (chunk) => (bytes += chunk.length));
      stream.on('trailers', (trailers) => {
        if (trailers['grpc-status'] !== '0' || bytes === 0) reject(new Error(`stream ended grpc-status ${trailers['grpc-status']} (${trailers['grpc-message']}) with ${bytes} bytes`));
      });
      stream.on('error', reject);
      stream.on('close', () => {
        if (++done === n) {
          session.close();
          resolve(n / (Number(process.hrtime.bigint() - begin) / 1e9));
        } else if (started < n) one();
      });
      stream.end(frame);
    };
    for (let i = 0; i < Math.min(STREAMS, n); i++) one();
  });
}

async function measure(variant, frame) {
  await drive(variant.port, WARMUP, frame);
  const before = cpuSeconds(variant.child.pid);
  const rps = await drive(variant.port, REQUESTS, frame);
  return { rps, cpuMicros: ((cpuSeconds(variant.child.pid) - before) / REQUESTS) * 1e6 };
}

/** µs per `getPeerCertificate()` on a mutual-TLS socket (what grpc-js's getAuthContext() calls). */
function peerCertificateMicros() {
  const certs = path.join(OUT, 'certs');
  const read = (f) => fs.readFileSync(path.join(certs, f));
  return new Promise((resolve, reject) => {
    const server = tls.createServer({ cert: read('metaroute/tls.crt'), key: read('metaroute/tls.key'), ca: read('ca.crt'), requestCert: true, rejectUnauthorized: true }, (socket) => {
      const rounds = [];
      for (let r = 0; r < 5; r++) {
        const start = process.hrtime.bigint();
        for (let i = 0; i < 2000; i++) socket.getPeerCertificate();
        rounds.push(Number(process.hrtime.bigint() - start) / 2000 / 1000);
      }
      socket.end();
      server.close();
      resolve(rounds);
    });
    server.listen(0, '127.0.0.1', () => {
      const client = tls.connect({ port: server.address().port, host: '127.0.0.1', servername: 'metaroute', ca: read('ca.crt'), cert: read('envoy/tls.crt'), key: read('envoy/tls.key') });
      client.on('error', reject).resume();
    });
  });
}

async function main() {
  execFileSync('bash', [path.join(ROOT, 'scripts', 'dev-certs.sh'), path.join(OUT, 'certs'), 'envoy'], { stdio: 'ignore' });
  const fixture = writeFixture(path.join(OUT, 'world'), 100);
  const frame = requestFrame();
  const variants = [];
  try {
    for (const [name, clients] of [['mutual TLS, any certificate', { certificateNames: [] }], ['mutual TLS, certificateNames: [envoy]', { certificateNames: ['envoy'] }]]) {
      const dir = path.join(OUT, `server-${variants.length}`);
      fs.mkdirSync(dir);
      variants.push({ name, ...(await startMetaroute(dir, fixture, clients)), runs: [] });
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) v.runs.push(await measure(v, frame));
    }
  } finally {
    // A server already started when another failed is stopped too, before OUT goes.
    await Promise.all(variants.map((v) => new Promise((resolve) => {
      if (v.child.exitCode !== null || v.child.signalCode !== null) return resolve();
      v.child.once('exit', resolve);
      v.child.kill('SIGTERM');
    })));
  }
  const col = (v, key) => triple(v.runs.map((r) => r[key]));
  console.log(`\nbench/extproc/client-names: ${REQUESTS} requests per run, ${STREAMS} concurrent streams on one mutual-TLS connection (node:http2 client), ${ROUNDS} interleaved rounds, ${os.cpus().length} cores; min / median / max\n`);
  console.log('| server (1,000 rules, 100 instances) | req/s | server CPU µs/request |');
  console.log('|---|---:|---:|');
  for (const v of variants) console.log(`| ${v.name} | ${col(v, 'rps')} | ${col(v, 'cpuMicros')} |`);
  const [any, named] = variants;
  console.log(`\npaired ratios, names checked / any certificate: req/s ${triple(pairedRatios(any.runs.map((r) => r.rps), named.runs.map((r) => r.rps)), 3)}, CPU per request ${triple(pairedRatios(any.runs.map((r) => r.cpuMicros), named.runs.map((r) => r.cpuMicros)), 3)}`);
  console.log(`getPeerCertificate() once, µs (5 rounds of 2,000): ${triple(await peerCertificateMicros())}`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => fs.rmSync(OUT, { recursive: true, force: true }));
