// The ext_proc client of bench/registry/run.js, in a process of its own (forked by run.js) so
// that it times ext_proc with a small heap: in the process that also loaded 100,000 instances
// its scavenges took 6-10 ms, each one counted as server latency. Arg: the ext_proc address.
// On a message {rate, seconds}: sends `rate` requests/s (one stream each, as Envoy does) for
// `seconds` and answers with the sorted latencies (ms), the failed calls and its own max
// event-loop delay.
'use strict';
const grpc = require('@grpc/grpc-js');
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const { requestMessage } = require('./request');

const client = new grpc.Client(process.argv[2], grpc.credentials.createInsecure());
const message = requestMessage();
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();

function drive(rate, seconds) {
  return new Promise((resolve) => {
    const latencies = new Float64Array(Math.round(rate * seconds));
    let answered = 0;
    let errors = 0;
    let sent = 0;
    let outstanding = 0;
    const total = latencies.length;
    const start = performance.now();
    let done = false;
    const finish = () => {
      if (!done && sent === total && outstanding === 0) {
        done = true;
        resolve({ latencies: Array.from(latencies.subarray(0, answered)).sort((a, b) => a - b), errors });
      }
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
      while (sent < due) {
        sent++;
        outstanding++;
        const t0 = performance.now();
        const call = client.makeBidiStreamRequest('/envoy.service.ext_proc.v3.ExternalProcessor/Process', (b) => b, (b) => b);
        call.on('data', () => { latencies[answered++] = performance.now() - t0; });
        call.on('error', () => { errors++; outstanding--; finish(); });
        call.on('end', () => { outstanding--; finish(); });
        call.write(message);
        call.end();
      }
      if (sent < total) setTimeout(tick, 2);
      else finish();
    };
    tick();
  });
}

process.on('message', async ({ rate, seconds }) => {
  loop.reset();
  const result = await drive(rate, seconds);
  process.send({ ...result, loopMaxMs: loop.max / 1e6 });
});
process.on('disconnect', () => {
  client.close();
  process.exit(0);
});
