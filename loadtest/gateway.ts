/**
 * k6 load test through the metaroute gateway (envoy/gateway.yaml): every request passes
 * jwt_authn -> ext_proc (metaroute) -> router, so this measures the whole decision path.
 *
 *   npm run build && node loadtest/stack.js     # metaroute + Envoy + backends, rules and instances loaded
 *   k6 run -e TOKENS=<file printed by stack.js> loadtest/gateway.ts    # k6 >= 0.57 runs TypeScript directly
 *   k6 run -e GATEWAY_URL=http://10.0.0.2:10000 -e RATE=500 -e DURATION=2m -e TOKENS=... loadtest/gateway.ts
 *
 * Expects the rules in loadtest/rules.yaml and the instances listed there (loadtest/stack.js
 * provides both). Scenarios:
 *   per_user    GET /aigc/...  token with sub=uN     -> that user's container (endpoint mode)
 *   staff       GET /          x-user-role: staff    -> lane=gray
 *   vip         GET /          x-user-tier: vip      -> pool=vip
 *   blue_green  GET /          x-user-id: uN         -> even ids blue; odd ids 50/50, sticky
 *   baseline    GET /          (no labels)           -> any shop instance
 *
 * Routing is verified when the backends echo their labels in an `x-instance-labels`
 * response header ("k=v,k=v"), as loadtest/stack.js's backends do; set EXPECT_LABELS=0 for
 * backends that do not, and only status codes and latency are checked.
 *
 * Environment: GATEWAY_URL (http://127.0.0.1:10000), RATE per scenario per second (50),
 * DURATION (30s), USERS (50), TOKENS (a JSON file {"u0": "<JWT>", ...}: one token per user,
 * signed by a key the gateway's jwt_authn trusts; required for per_user), EXPECT_LABELS (1).
 */
import { check, fail } from 'k6';
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import { Rate } from 'k6/metrics';
import type { Options, Scenario } from 'k6/options';

const BASE = (__ENV['GATEWAY_URL'] ?? 'http://127.0.0.1:10000').replace(/\/$/, '');
const RATE = positiveInt(__ENV['RATE'], 50);
const DURATION = __ENV['DURATION'] ?? '30s';
const USERS = positiveInt(__ENV['USERS'], 50);
/** Bearer tokens per user id, read once in the init context (open() is only allowed there). */
const TOKENS: Record<string, string> = __ENV['TOKENS'] ? (JSON.parse(open(__ENV['TOKENS'])) as Record<string, string>) : {};
const EXPECT_LABELS = (__ENV['EXPECT_LABELS'] ?? '1') !== '0';

/** A request that reached a backend whose labels contradict the rule: must stay at 0. */
const misrouted = new Rate('metaroute_misrouted');
/** Odd user ids sent to blue (the 50/50 split): should sit near 0.5. */
const oddToBlue = new Rate('metaroute_odd_users_to_blue');
/** The same user seen on two colours within one VU (stickiness broken). */
const unsticky = new Rate('metaroute_unsticky');

function positiveInt(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

function scenario(fn: string): Scenario {
  return {
    executor: 'constant-arrival-rate',
    exec: fn,
    rate: RATE,
    timeUnit: '1s',
    duration: DURATION,
    preAllocatedVUs: Math.max(5, Math.ceil(RATE / 10)),
    maxVUs: Math.max(50, RATE * 2),
    tags: { flow: fn },
  };
}

const thresholds: Record<string, string[]> = {
  // The gateway fails closed: every error here is a real failure, not a fallback.
  http_req_failed: ['rate<0.01'],
  // ext_proc budget is 200 ms per request; metaroute answers in well under 1 ms.
  http_req_duration: ['p(95)<250', 'p(99)<500'],
  checks: ['rate>0.99'],
};
if (EXPECT_LABELS) {
  thresholds['metaroute_misrouted'] = ['rate==0'];
  thresholds['metaroute_unsticky'] = ['rate==0'];
  thresholds['metaroute_odd_users_to_blue'] = ['rate>0.3', 'rate<0.7'];
}

/** Before any load: every flow answers 200 once, or the run stops here (wrong setup, not a slow gateway). */
export function setup(): void {
  const probes: Array<[string, Record<string, string>]> = [
    ['/aigc/generate', { authorization: bearer(`u${USERS - 1}`) }],
    ['/', { 'x-user-role': 'staff' }],
    ['/', { 'x-user-tier': 'vip' }],
    ['/', { 'x-user-id': 'u1' }],
    ['/', {}],
  ];
  for (const [path, headers] of probes) {
    const res = http.get(`${BASE}${path}`, { headers, tags: { name: 'setup' } });
    if (res.status !== 200) fail(`setup: GET ${path} ${JSON.stringify(Object.keys(headers))} answered ${res.status}; is loadtest/stack.js (or your gateway with loadtest/rules.yaml and its instances) running?`);
  }
}

export const options: Options = {
  scenarios: {
    per_user: scenario('perUser'),
    staff: scenario('staff'),
    vip: scenario('vip'),
    blue_green: scenario('blueGreen'),
    baseline: scenario('baseline'),
  },
  thresholds,
  // Only status and headers are checked; do not keep bodies in memory.
  discardResponseBodies: true,
};

type Response = RefinedResponse<ResponseType | undefined>;

function get(path: string, headers: Record<string, string>, name: string): Response {
  // `name` groups the metrics per flow instead of per URL.
  return http.get(`${BASE}${path}`, { headers, tags: { name } });
}

/** Labels the backend reported, or undefined when it does not echo them. */
function labelsOf(res: Response): Record<string, string> | undefined {
  const header = res.headers['X-Instance-Labels'];
  if (header === undefined) return undefined;
  const labels: Record<string, string> = {};
  for (const pair of header.split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

/** Checks the status and, when labels are expected, that `want` holds for them. */
function verify(res: Response, want: (labels: Record<string, string>) => boolean): Record<string, string> | undefined {
  const labels = labelsOf(res);
  check(res, {
    'status 200': (r) => r.status === 200,
    ...(EXPECT_LABELS && { 'backend echoes its labels': () => labels !== undefined }),
  });
  if (EXPECT_LABELS && res.status === 200 && labels) misrouted.add(!want(labels));
  return labels;
}

function randomUser(): { id: string; n: number } {
  const n = Math.floor(Math.random() * USERS);
  return { id: `u${n}`, n };
}

function bearer(user: string): string {
  const token = TOKENS[user];
  if (token === undefined) fail(`no token for ${user} in TOKENS (${__ENV['TOKENS'] ?? 'unset'})`);
  return `Bearer ${token}`;
}

/** Every request of user N goes to user N's container (keyed on the verified sub), never another user's. */
export function perUser(): void {
  const user = randomUser();
  const res = get('/aigc/generate', { authorization: bearer(user.id) }, 'aigc');
  verify(res, (l) => l['user'] === user.id);
}

export function staff(): void {
  const res = get('/', { 'x-user-role': 'staff', 'x-user-id': randomUser().id }, 'shop-staff');
  verify(res, (l) => l['lane'] === 'gray');
}

export function vip(): void {
  const res = get('/', { 'x-user-tier': 'vip', 'x-user-id': randomUser().id }, 'shop-vip');
  verify(res, (l) => l['pool'] === 'vip');
}

const colourOf = new Map<string, string>();

export function blueGreen(): void {
  const user = randomUser();
  const res = get('/', { 'x-user-id': user.id }, 'shop-blue-green');
  const labels = verify(res, (l) => (user.n % 2 === 0 ? l['color'] === 'blue' : l['color'] === 'blue' || l['color'] === 'green'));
  const colour = labels?.['color'];
  if (!EXPECT_LABELS || res.status !== 200 || colour === undefined) return;
  if (user.n % 2 === 1) oddToBlue.add(colour === 'blue');
  const before = colourOf.get(user.id);
  unsticky.add(before !== undefined && before !== colour);
  colourOf.set(user.id, colour);
}

/** No labels at all: the pure overhead of the decision path. */
export function baseline(): void {
  const res = get('/', {}, 'shop-baseline');
  check(res, { 'status 200': (r) => r.status === 200 });
}

export default baseline;
