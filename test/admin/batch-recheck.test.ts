import { AdminAuth, type AuthConfig } from '../../src/admin/auth';
import { startApp } from '../support/app';

/**
 * A batch's token checks run in slices over many event-loop turns; another call may change the
 * registry meanwhile. Each entry whose instance or address holder changed is checked again in
 * the turn the batch is written, so no token writes on a check of a registry that is gone.
 * Each test makes the other call land after the batch's first check (a spy on the real
 * `authorize`, each later check slowed by 0.25 ms until that call is answered, so the batch stays in its slices), and asserts the
 * batch's answer, which shows the race was run (without it the batch would be answered 200).
 */
const ALICE = 'user-a-0123456789abcdef';
const BOB = 'user-b-0123456789abcdef';
const QUOTA = 'quota-0123456789abcdef';
const scope = { services: ['aigc', 'q'], optionalLabels: {}, addresses: [], maxInstances: undefined, admin: false };
const AUTH: AuthConfig = {
  requireAdminAuth: 'auto',
  tokens: [
    { ...scope, token: ALICE, labels: { user: ['A'] } },
    { ...scope, token: BOB, labels: { user: ['B'] } },
    { ...scope, token: QUOTA, services: ['q'], labels: {}, maxInstances: 3 },
  ],
};

let env: Awaited<ReturnType<typeof startApp>>;
beforeEach(async () => {
  env = await startApp({ auth: AUTH });
});
afterEach(async () => {
  jest.restoreAllMocks();
  await env.app.stop();
});

async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${env.admin}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, error: ((await response.json().catch(() => ({}))) as { error?: string }).error };
}

/**
 * Runs `meanwhile` right after the `nth` check of `authorize`, and slows every later check until
 * it has finished (0.25 ms each: a window of about a second over 4,000 entries, for a registration
 * whose fsync is slow on a busy machine; 0.05 ms, 200 ms, was too short once in CI).
 */
function afterCheck<T>(nth: number, meanwhile: () => Promise<T>): { done: () => Promise<T> } {
  const original = AdminAuth.prototype.authorize;
  let calls = 0;
  let started: Promise<T> | undefined;
  let finished = false;
  jest.spyOn(AdminAuth.prototype, 'authorize').mockImplementation(function (this: AdminAuth, ...args) {
    original.apply(this, args);
    if (++calls === nth) started = meanwhile().finally(() => (finished = true));
    else if (calls > nth && !finished) for (const until = performance.now() + 0.25; performance.now() < until; );
  });
  return { done: () => started! };
}

const holders = (host: string) => env.app.registry.snapshot().services.get('default/aigc')?.instances.filter((i) => i.host === host).map((i) => i.id);
const others = (n: number) => Array.from({ length: n }, (_, i) => ({ service: 'aigc', host: `10.1.${i >> 8}.${i & 255}`, port: 80, metadata: { user: 'A' }, ephemeral: false }));

test('a registration at an address another token took meanwhile is refused: it would displace that instance', async () => {
  const bob = afterCheck(1, () => call('POST', '/v1/instances', BOB, { service: 'aigc', host: '10.0.0.5', port: 8080, id: 'bob', metadata: { user: 'B' }, ephemeral: false }));
  const register = [{ service: 'aigc', host: '10.0.0.5', port: 8080, id: 'alice', metadata: { user: 'A' }, ephemeral: false }, ...others(3999)];
  const answer = await call('POST', '/v1/instances/batch', ALICE, { register });
  expect((await bob.done()).status).toBe(200);
  expect(answer).toMatchObject({ status: 409, error: expect.stringMatching(/^register\[0\]: address 10\.0\.0\.5:8080 is held by instance bob/) });
  expect(holders('10.0.0.5')).toEqual(['bob']);
  expect(holders('10.1.0.0')).toEqual([]); // nothing of the batch was written
});

test('a deregistration of an id another token registered meanwhile is refused', async () => {
  const bob = afterCheck(1, () => call('POST', '/v1/instances', BOB, { service: 'aigc', host: '10.0.0.5', port: 8080, id: 'bob', metadata: { user: 'B' }, ephemeral: false }));
  const deregister = [{ service: 'aigc', id: 'bob' }, ...Array.from({ length: 3999 }, (_, i) => ({ service: 'aigc', id: `none-${i}` }))];
  const answer = await call('POST', '/v1/instances/batch', ALICE, { deregister });
  expect((await bob.done()).status).toBe(200);
  expect(answer).toMatchObject({ status: 403, error: expect.stringMatching(/^deregister\[0\]: /) });
  expect(holders('10.0.0.5')).toEqual(['bob']);
});

test('the quota counts an instance as new when it was removed meanwhile', async () => {
  const instance = (id: string, n: number) => ({ service: 'q', id, host: `10.0.0.${n}`, port: 80, ephemeral: false });
  for (let i = 1; i <= 3; i++) expect((await call('POST', '/v1/instances', QUOTA, instance(`x${i}`, i))).status).toBe(200);
  // After the batch's first entry was checked (x1 existed: no new instance), x1 is swapped for y1.
  const swap = afterCheck(2, async () => [(await call('DELETE', '/v1/instances/default/q/x1', QUOTA)).status, (await call('POST', '/v1/instances', QUOTA, instance('y1', 9))).status]);
  const deregister = Array.from({ length: 3999 }, (_, i) => ({ service: 'q', id: `none-${i}` }));
  const answer = await call('POST', '/v1/instances/batch', QUOTA, { register: [instance('x1', 1)], deregister });
  expect(await swap.done()).toEqual([200, 200]);
  expect(answer).toMatchObject({ status: 403, error: expect.stringMatching(/token may register at most 3 instances/) });
  expect(env.app.registry.snapshot().services.get('default/q')!.instances.map((i) => i.id).sort()).toEqual(['x2', 'x3', 'y1']);
});

test('a heartbeat for an id another token registered meanwhile is refused: it would keep that instance alive', async () => {
  const bob = afterCheck(1, () => call('POST', '/v1/instances', BOB, { service: 'aigc', host: '10.0.0.5', port: 8080, id: 'bob', metadata: { user: 'B' }, ttlSeconds: 30 }));
  const instances = [{ service: 'aigc', id: 'bob' }, ...Array.from({ length: 3999 }, (_, i) => ({ service: 'aigc', id: `none-${i}` }))];
  const answer = await call('POST', '/v1/heartbeats', ALICE, { instances });
  expect((await bob.done()).status).toBe(200);
  expect(answer).toMatchObject({ status: 403, error: expect.stringMatching(/^instances\[0\]: /) });
});
