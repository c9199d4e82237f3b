// bench/extproc/stream-table-chain.js: why an HTTP/2 server under steady load promotes a tenth
// of its streams into V8's old generation once a mark-compact has happened under load, and
// hardly any before (docs/PERFORMANCE.md, "A stream table chained through the old generation").
// No metaroute code runs: a bare node:http2 server answers every stream at once, with about 190 MB
// of long-lived objects beside it so V8 starts no mark-compact on its own; h2load drives it at RATE
// streams/s for SECONDS, and at half time the server runs one full GC (V8's gc()). Two variants,
// alternated over ROUNDS:
//   as Node keeps it: the session's stream Map is left alone;
//   renewed:          right after the GC the session gets a fresh copy of that Map (Node's private
//                     `session[kState].streams`): a young table again, where the GC had moved the
//                     one in use to the old generation.
// Prints, per variant, the old generation's growth per scavenge (V8's `promoted`, KB) before and
// after the forced GC, min / median / max over rounds. Env: RATE (4000), SECONDS (16), ROUNDS (3).
// Needs h2load (Debian package nghttp2-client).
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runH2load } = require('../h2load');
const { freePort } = require('../serving');
const { triple, percentile } = require('../registry/stats');

const RATE = Number(process.env.RATE ?? 4000);
const SECONDS = Number(process.env.SECONDS ?? 16);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BALLAST_OBJECTS = 2_500_000; // about 190 MB of heap

function serve() {
  const http2 = require('node:http2');
  const ballast = Array.from({ length: BALLAST_OBJECTS }, (_, i) => ({ i, s: `s${i}`, next: null }));
  const server = http2.createServer({ settings: { maxConcurrentStreams: 4096 } });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 }, { endStream: true });
    stream.resume();
  });
  server.on('session', (session) => {
    process.once('message', () => {
      const gcAtMs = performance.now();
      globalThis.gc();
      if (process.env.RENEW === '1') {
        const state = session[Object.getOwnPropertySymbols(session).find((key) => key.description === 'state')];
        state.streams = new state.streams.constructor(state.streams);
      }
      process.send({ gcAtMs });
    });
  });
  globalThis.ballast = ballast;
  server.listen(Number(process.argv[3]), '127.0.0.1', () => process.send({ readyAtMs: performance.now() }));
  process.on('SIGTERM', () => process.exit(0)); // flushes V8's GC lines
  process.on('disconnect', () => process.exit(0)); // the bench went away
}

/**
 * V8's `promoted` of each scavenge of the main isolate, with its time since the isolate started
 * (ms; performance.now() in the server counts from the process start, some tens of ms earlier).
 */
function scavenges(stdout) {
  const found = [];
  let main;
  for (const line of stdout.split('\n')) {
    const m = /^\[\d+:(0x[0-9a-f]+)\]\s+([\d.]+) ms: .*gc=s .* promoted=(\d+)/.exec(line);
    if (!m) continue;
    main ??= m[1];
    if (m[1] === main) found.push({ atMs: Number(m[2]), promotedKB: Number(m[3]) / 1024 });
  }
  return found;
}

async function run(renew, payload) {
  const port = await freePort();
  const child = fork(__filename, ['serve', String(port)], {
    execArgv: ['--expose-gc', '--trace-gc-nvp'], env: { ...process.env, RENEW: renew ? '1' : '0' }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const died = exited.then((code) => Promise.reject(new Error(`the server exited (${code})`)));
  died.catch(() => undefined);
  const message = () => Promise.race([new Promise((resolve) => child.once('message', resolve)), died]);
  let readyAtMs;
  let gcAtMs;
  try {
    ({ readyAtMs } = await message());
    const forced = message();
    const gcTimer = setTimeout(() => child.send('gc'), (SECONDS / 2) * 1000);
    await runH2load(['-c', '1', '-m', '256', '--rps', String(RATE), '-D', String(SECONDS), '-d', payload, `http://127.0.0.1:${port}/`]);
    clearTimeout(gcTimer);
    ({ gcAtMs } = await forced);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  const all = scavenges(stdout).filter((s) => s.atMs > readyAtMs + 2000); // past the load's first seconds
  const median = (list) => (list.length ? percentile(list.map((s) => s.promotedKB).sort((a, b) => a - b), 0.5) : NaN);
  // Half a second either side of the GC: the two clocks differ by tens of milliseconds.
  return { before: median(all.filter((s) => s.atMs < gcAtMs - 500)), after: median(all.filter((s) => s.atMs > gcAtMs + 1000)) };
}

async function main() {
  const payload = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-chain-')), 'body');
  fs.writeFileSync(payload, Buffer.alloc(32));
  const results = { kept: [], renewed: [] };
  for (let round = 0; round < ROUNDS; round++) {
    results.kept.push(await run(false, payload));
    results.renewed.push(await run(true, payload));
  }
  console.log(`\nbench/extproc/stream-table-chain: a bare node:http2 server (${process.version}) at ${RATE} streams/s from h2load, ${BALLAST_OBJECTS.toLocaleString('en')} long-lived objects, one full GC at ${SECONDS / 2} s; ${ROUNDS} alternated rounds; ${os.cpus().length} cores\n`);
  console.log('| stream Map after the GC | promoted per scavenge before it, KB | after it, KB |');
  console.log('|---|---:|---:|');
  for (const [name, list] of [['as Node keeps it', results.kept], ['renewed', results.renewed]]) {
    console.log(`| ${name} | ${triple(list.map((r) => r.before), 0)} | ${triple(list.map((r) => r.after), 0)} |`);
  }
}

if (process.argv[2] === 'serve') serve();
else main().catch((e) => {
  console.error(e);
  process.exit(1);
});
