import { AdminAuth, type AuthConfig } from '../../src/admin/auth';
import { startApp } from '../support/app';

/**
 * A registration token's scope check costs a few µs per entry: a large batch's checks run in
 * slices between event-loop turns (ext_proc answers in between), and still refuse the whole
 * batch before anything is written.
 */
const TOKEN = 'slices-0123456789abcdef';
const AUTH: AuthConfig = {
  requireAdminAuth: 'auto',
  tokens: [{ token: TOKEN, services: ['big'], labels: { user: ['A'] }, optionalLabels: {}, addresses: ['10.0.0.0/8'], maxInstances: undefined, admin: false }],
};

let env: Awaited<ReturnType<typeof startApp>>;
beforeAll(async () => {
  env = await startApp({ auth: AUTH });
});
afterAll(() => env.app.stop());

const entry = (i: number, user = 'A') => ({ service: 'big', host: `10.1.${i >> 8}.${i & 255}`, port: 80, metadata: { user } });
const registered = () => env.app.registry.snapshot().services.get('default/big')?.instances.length ?? 0;

async function post(urlPath: string, body: unknown) {
  const response = await fetch(`${env.admin}${urlPath}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as { error?: string; details?: string[]; registered?: number; alive?: number } };
}

/** Runs `call` while counting event-loop turns; resolves with its answer and the turns its `authorize` calls spanned. */
async function turnsOfAuthorize<T>(call: () => Promise<T>): Promise<{ answer: T; turns: number }> {
  let turn = 0;
  let running = true;
  const tick = () => {
    turn++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const seen = new Set<number>();
  const original = AdminAuth.prototype.authorize;
  jest.spyOn(AdminAuth.prototype, 'authorize').mockImplementation(function (this: AdminAuth, ...args) {
    seen.add(turn);
    original.apply(this, args);
  });
  try {
    return { answer: await call(), turns: seen.size };
  } finally {
    running = false;
    jest.restoreAllMocks();
  }
}

test('a 4,000-entry batch is authorized across event-loop turns; one entry out of scope refuses all of it, naming it', async () => {
  const register = Array.from({ length: 4000 }, (_, i) => entry(i, i === 3999 ? 'B' : 'A'));
  const refused = await turnsOfAuthorize(() => post('/v1/instances/batch', { register }));
  expect(refused.answer).toEqual({ status: 403, json: { error: 'register[3999]: token may not register user=B; nothing was changed', details: [] } });
  expect(refused.turns).toBeGreaterThan(1);
  expect(registered()).toBe(0);

  register[3999] = entry(3999);
  const accepted = await turnsOfAuthorize(() => post('/v1/instances/batch', { register }));
  expect(accepted.answer).toEqual({ status: 200, json: { registered: 4000, deregistered: 0, missing: [] } });
  expect(accepted.turns).toBeGreaterThan(1);
  expect(registered()).toBe(4000);

  // Validation is sliced too, and a bad entry past the first slice still names its index and field.
  const invalid = await post('/v1/instances/batch', { register: [...register.slice(0, 3999), { ...entry(5000), port: 0 }] });
  expect(invalid).toEqual({ status: 400, json: { error: 'invalid batch; nothing was changed', details: ['register[3999].port: must be an integer 1-65535, got 0'] } });
  expect(registered()).toBe(4000);
});

test('10,000 heartbeats are authorized across event-loop turns; one out of scope refuses them all, naming it', async () => {
  expect((await post('/v1/instances/batch', { register: Array.from({ length: 4000 }, (_, i) => entry(i)) })).status).toBe(200);
  const instances = Array.from({ length: 10000 }, (_, i) => ({ service: 'big', id: `10.1.${(i % 4000) >> 8}.${i % 4000 & 255}:80` }));
  const alive = await turnsOfAuthorize(() => post('/v1/heartbeats', { instances: instances.map((ref, i) => (i < 4000 ? ref : { ...ref, id: `ghost-${i}` })) }));
  expect(alive.answer.status).toBe(200);
  expect(alive.answer.json.alive).toBe(4000);
  expect(alive.turns).toBeGreaterThan(1);
  const refused = await post('/v1/heartbeats', { instances: [...instances.slice(0, 9999), { service: 'shop', id: 'x' }] });
  expect(refused).toEqual({ status: 403, json: { error: 'instances[9999]: token may not heartbeat service default/shop; nothing was changed', details: [] } });
});
