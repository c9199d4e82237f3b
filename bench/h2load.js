// h2load (Debian package nghttp2-client) for the benches that read its per-request log.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');

/** Runs h2load with `args`, without blocking the bench's event loop; resolves with its output. */
function runH2load(args) {
  return new Promise((resolve, reject) => {
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('error', (error) => reject(error.code === 'ENOENT' ? new Error('h2load not found: apt-get install -y nghttp2-client') : error));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`h2load exited with ${code}\n${out}`))));
  });
}

/** The requests of an h2load `--log-file` started within its first `seconds`: { status, ms } each. */
function startedWithin(logFile, seconds) {
  const rows = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((line) => line.split('\t').map(Number));
  const start = Math.min(...rows.map(([startMicros]) => startMicros));
  return rows.filter(([startMicros]) => startMicros - start < seconds * 1e6).map(([, status, micros]) => ({ status, ms: micros / 1000 }));
}

module.exports = { runH2load, startedWithin };
