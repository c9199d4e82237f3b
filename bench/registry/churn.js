// The churn of bench/registry/run.js, in a process of its own (forked by run.js): building and
// posting 20,000 heartbeats/s in the process that times ext_proc delayed its own timers and
// answers, which then counted as server latency. Args: admin URL, instances, round.
// Runs until the message 'stop', then answers with the number of failed calls and exits.
'use strict';
const { instance, post } = require('./admin');

const [admin, instancesArg, roundArg] = process.argv.slice(2);
const INSTANCES = Number(instancesArg);
const round = Number(roundArg);

/** Runs `work` every `everyMs` until stopped; errors are counted, not thrown. */
function every(everyMs, work) {
  let failures = 0;
  let inFlight = Promise.resolve();
  const timer = setInterval(() => {
    inFlight = work().catch((e) => { failures++; if (failures === 1) console.error(e.message); });
  }, everyMs);
  return async () => {
    clearInterval(timer);
    await inFlight;
    return failures;
  };
}

let next = 0;
let beat = 0;
// 1,000 registrations/s: replacements in the big service with changed labels.
const registrations = every(50, () => {
  const register = [];
  for (let k = 0; k < 50; k++, next++) register.push(instance(next % INSTANCES, (next + round) % 3 ? 'gray' : 'stable'));
  return post(admin, '/v1/instances/batch', { register });
});
// 20,000 heartbeats/s in calls of 2,000.
const heartbeats = every(100, () => {
  const instances = [];
  for (let k = 0; k < 2000; k++, beat++) instances.push({ service: 'big', id: `i${beat % INSTANCES}` });
  return post(admin, '/v1/heartbeats', { instances });
});

process.on('message', async (message) => {
  if (message !== 'stop') return;
  const failures = (await registrations()) + (await heartbeats());
  process.send({ failures }, () => process.exit(0));
});
process.on('disconnect', () => process.exit(0)); // run.js is gone: no load without it
process.send('started');
