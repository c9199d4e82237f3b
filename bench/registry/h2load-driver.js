// An ext_proc client for bench/registry/run.js (DRIVER=h2load): h2load (nghttp2-client) sends
// RATE requests/s on one HTTP/2 connection, one stream each, and logs every request's time to
// its end of stream. Written in C with no GC, it stays on time where the Node driver (driver.js)
// fell behind under churn: its own event loop was late by 33-101 ms, and a late client counts
// its own lateness in every latency it times. Its latency runs to the stream's end (the gRPC
// trailers), past the answer driver.js times (idle p50 about 0.4 ms longer). h2load sees HTTP 200
// whatever the gRPC status: a stream reset, timed out or answered with another HTTP status is an
// error here, and run.js adds the streams the server counted as failed or refused (its /metrics).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { grpcFrame } = require('../serving');
const { requestMessage } = require('./request');

/**
 * `drive(rate, seconds)` resolves like driver.js's answer: sorted latencies (ms) and errors.
 * `nice`, if given, is each h2load run's nice value.
 */
function h2loadDriver(address, dir, nice) {
  const frame = path.join(dir, 'request.bin');
  fs.writeFileSync(frame, grpcFrame(requestMessage()));
  let runs = 0;
  const drive = (rate, seconds) => new Promise((resolve, reject) => {
    const log = path.join(dir, `h2load-${runs++}.log`);
    const args = ['-c', '1', '-m', '256', '--rps', String(rate), '-D', String(seconds), '--log-file', log, '-d', frame,
      '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://${address}/envoy.service.ext_proc.v3.ExternalProcessor/Process`];
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('error', (error) => reject(error.code === 'ENOENT' ? new Error('h2load not found: apt-get install -y nghttp2-client (or DRIVER=node)') : error));
    if (nice !== undefined && child.pid !== undefined) os.setPriority(child.pid, nice);
    child.once('exit', (code) => {
      const counts = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(out);
      if (code !== 0 || !counts) return reject(new Error(`h2load exited with ${code}\n${out}`));
      const lines = fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((line) => line.split('\t'));
      fs.rmSync(log);
      const latencies = lines.filter((l) => l[1] === '200').map((l) => Number(l[2]) / 1000).sort((a, b) => a - b);
      // Streams still open when the time is up are cut, not failed: h2load counts them started, not done.
      const errors = Number(counts[1]) - Number(counts[2]);
      resolve({ latencies, errors });
    });
  });
  return { drive, close: () => undefined };
}

module.exports = { h2loadDriver };
