// loadtest/gateway.ts's scenario without k6: the same stack (loadtest/stack.js), the same five
// flows at the same rate per flow, driven by h2load (Debian nghttp2-client), one h2load process
// per flow and user (h2load sends fixed headers, so users are spread over processes). Routing
// is checked on the backends' side: each counts what it got per flow and user. Prints the
// numbers and the k6 thresholds' verdicts; exits 1 when a threshold fails.
//
//   npm run build && node loadtest/run-h2load.js      # RATE=50 per flow, DURATION=30 s
//
// Environment: RATE (50), DURATION in seconds (30), WARMUP in seconds (5), GATEWAY_PORT (a free port).
// Routing checks (misrouted, sticky, odd users to blue) count the warm-up's requests too.
'use strict';
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startStack, freePort } = require('./stack');

const RATE = Number(process.env.RATE ?? 50);
const DURATION = Number(process.env.DURATION ?? 30);
/** Seconds of the same load before the measured phase; its failures are reported apart (cold start). */
const WARMUP = Number(process.env.WARMUP ?? 5);
/** Users of the per_user and blue_green flows (h2load processes per flow). */
const PER_USER_USERS = 5;
const BLUE_GREEN_USERS = 20;
/** Requests in flight per h2load process at most: h2load starts each process with this many at once. */
const STREAMS = Number(process.env.STREAMS ?? 2);

function flows(tokens) {
  const users = (n) => Array.from({ length: n }, (_, i) => `u${i}`);
  return [
    ...users(PER_USER_USERS).map((u) => ({ flow: 'per_user', user: u, rate: RATE / PER_USER_USERS, path: '/aigc/generate', headers: { authorization: `Bearer ${tokens[u]}` } })),
    { flow: 'staff', user: 'u1', rate: RATE, path: '/', headers: { 'x-user-role': 'staff', 'x-user-id': 'u1' } },
    { flow: 'vip', user: 'u2', rate: RATE, path: '/', headers: { 'x-user-tier': 'vip', 'x-user-id': 'u2' } },
    ...users(BLUE_GREEN_USERS).map((u) => ({ flow: 'blue_green', user: u, rate: RATE / BLUE_GREEN_USERS, path: '/', headers: { 'x-user-id': u } })),
    { flow: 'baseline', user: '-', rate: RATE, path: '/', headers: {} },
  ];
}

/** Whether a backend with `labels` may serve `flow` for `user` (the k6 script's misrouted check). */
function allowed(flow, user, labels) {
  switch (flow) {
    case 'per_user': return labels.user === user;
    case 'staff': return labels.lane === 'gray';
    case 'vip': return labels.pool === 'vip';
    case 'blue_green': return Number(user.slice(1)) % 2 === 0 ? labels.color === 'blue' : labels.color === 'blue' || labels.color === 'green';
    default: return true;
  }
}

function h2load(url, f, seconds, logFile) {
  const headers = { ...f.headers, 'x-loadtest-flow': f.flow, 'x-loadtest-user': f.user };
  const args = ['-D', String(seconds), '-c', '1', '-m', String(STREAMS), `--rps=${f.rate}`, '--log-file', logFile,
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), `${url}${f.path}`];
  return new Promise((resolve, reject) => execFile('h2load', args, { encoding: 'utf8' }, (err, out) => (err ? reject(err) : resolve(out))));
}

/** Every flow's h2load at once for `seconds`; status and latency of every request, per flow. */
async function phase(stack, plan, seconds, name) {
  const logs = plan.map((f, i) => path.join(stack.dir, `h2load-${name}-${f.flow}-${i}.log`));
  const started = Date.now();
  await Promise.all(plan.map((f, i) => h2load(stack.url, f, seconds, logs[i])));
  const byFlow = new Map();
  plan.forEach((f, i) => {
    const lines = fs.readFileSync(logs[i], 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
    const entry = byFlow.get(f.flow) ?? { micros: [], failed: 0 };
    for (const [, status, micros] of lines) {
      entry.micros.push(Number(micros));
      if (Number(status) >= 400) entry.failed++;
    }
    byFlow.set(f.flow, entry);
  });
  return { byFlow, seconds: (Date.now() - started) / 1000 };
}

async function main() {
  const stack = await startStack({ gatewayPort: Number(process.env.GATEWAY_PORT ?? 0) || (await freePort()), users: PER_USER_USERS });
  try {
    const plan = flows(stack.tokens);
    const warm = await phase(stack, plan, WARMUP, 'warmup');
    const warmFailed = [...warm.byFlow.values()].reduce((n, e) => n + e.failed, 0);
    const warmTotal = [...warm.byFlow.values()].reduce((n, e) => n + e.micros.length, 0);
    const { byFlow, seconds } = await phase(stack, plan, DURATION, 'main');
    // Server side: which backend got which flow and user.
    let misrouted = 0;
    let routed = 0;
    const colours = new Map();
    let oddToBlue = 0;
    let odd = 0;
    for (const b of stack.backends) {
      for (const [key, n] of b.hits) {
        const [flow, user] = key.split(' ');
        if (flow === '-') continue;
        routed += n;
        if (!allowed(flow, user, b.labels)) misrouted += n;
        if (flow === 'blue_green') {
          colours.set(user, new Set([...(colours.get(user) ?? []), b.labels.color]));
          if (Number(user.slice(1)) % 2 === 1) {
            odd += n;
            if (b.labels.color === 'blue') oddToBlue += n;
          }
        }
      }
    }
    const unsticky = [...colours.values()].filter((c) => c.size > 1).length;

    const all = [...byFlow.values()].flatMap((e) => e.micros).sort((a, b) => a - b);
    const at = (xs, q) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] / 1000;
    const failed = [...byFlow.values()].reduce((n, e) => n + e.failed, 0);
    console.log(`\nloadtest/run-h2load.js: ${plan.length} h2load processes, ${RATE} req/s per flow for ${DURATION} s after a ${WARMUP} s warm-up, through Envoy 1.40 (gateway.yaml, --concurrency 1) + metaroute`);
    console.log(`warm-up (not in the table or the latency thresholds): ${warmFailed} of ${warmTotal} requests failed\n`);
    console.log('| flow | requests | req/s | failed (≥ 400) | p50 ms | p95 ms | p99 ms |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const [flow, e] of byFlow) {
      const xs = e.micros.sort((a, b) => a - b);
      console.log(`| ${flow} | ${xs.length} | ${(xs.length / seconds).toFixed(0)} | ${e.failed} | ${at(xs, 0.5).toFixed(2)} | ${at(xs, 0.95).toFixed(2)} | ${at(xs, 0.99).toFixed(2)} |`);
    }
    console.log(`| all | ${all.length} | ${(all.length / seconds).toFixed(0)} | ${failed} | ${at(all, 0.5).toFixed(2)} | ${at(all, 0.95).toFixed(2)} | ${at(all, 0.99).toFixed(2)} |`);

    const thresholds = [
      ['http_req_failed rate<0.01', failed / all.length, failed / all.length < 0.01],
      ['http_req_duration p(95)<250', at(all, 0.95), at(all, 0.95) < 250],
      ['http_req_duration p(99)<500', at(all, 0.99), at(all, 0.99) < 500],
      ['metaroute_misrouted rate==0', misrouted / routed, misrouted === 0],
      ['metaroute_unsticky rate==0 (users on two colours)', unsticky, unsticky === 0],
      ['metaroute_odd_users_to_blue 0.3<rate<0.7', oddToBlue / odd, oddToBlue / odd > 0.3 && oddToBlue / odd < 0.7],
    ];
    console.log('\n| k6 threshold | value | |\n|---|---:|---|');
    for (const [name, value, ok] of thresholds) console.log(`| ${name} | ${Number(value).toFixed(4)} | ${ok ? 'pass' : 'FAIL'} |`);
    if (thresholds.some(([, , ok]) => !ok)) process.exitCode = 1;
  } finally {
    await stack.stop();
    if (!process.exitCode) fs.rmSync(stack.dir, { recursive: true, force: true });
    else console.error(`logs in ${stack.dir}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
