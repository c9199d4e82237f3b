import type { AuthConfig } from '../../src/admin/auth';
import { api, startApp } from '../support/app';

/**
 * A token's maxInstances counts what a call adds net of what it removes within the token's
 * scope: a per-user container handed to the next user (a new id at the same address) leaves
 * the count as it was, and must not be refused at a full quota.
 */
const TOKEN = 'quota-net-0123456789abcdef';
const AUTH: AuthConfig = {
  requireAdminAuth: 'auto',
  tokens: [{ token: TOKEN, services: ['pods'], labels: {}, optionalLabels: { user: ['*'] }, addresses: [], maxInstances: 2, admin: false }],
};

let env: Awaited<ReturnType<typeof startApp>>;
beforeAll(async () => {
  env = await startApp({ auth: AUTH });
});
afterAll(() => env.app.stop());

async function call(path: string, body: unknown) {
  const response = await fetch(`${env.admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as { error?: string } };
}
const pod = (user: string, n: number) => ({ service: 'pods', id: `${user}-pod`, host: `10.1.0.${n}`, port: 80, metadata: { user }, ephemeral: false });
const ids = async () => ((await api(env.admin, 'GET', '/v1/instances?service=pods')).json.instances as { id: string }[]).map((i) => i.id).sort();

test('at a full quota, a new id at a held address replaces the holder; a new address is refused', async () => {
  expect((await call('/v1/instances', pod('alice', 1))).status).toBe(200);
  expect((await call('/v1/instances', pod('bob', 2))).status).toBe(200);
  const carol = await call('/v1/instances', pod('carol', 3));
  expect([carol.status, carol.json.error]).toEqual([403, 'token may register at most 2 instances; 2 are registered within its scope, and this would add 1']);
  // alice's container goes to carol: same address, new id.
  expect((await call('/v1/instances', pod('carol', 1))).status).toBe(200);
  expect(await ids()).toEqual(['bob-pod', 'carol-pod']);
});

test('a batch that deregisters as many as it adds fits; one more does not', async () => {
  const swap = await call('/v1/instances/batch', { register: [pod('dave', 4)], deregister: [{ service: 'pods', id: 'bob-pod' }] });
  expect(swap.status).toBe(200);
  expect(await ids()).toEqual(['carol-pod', 'dave-pod']);
  const more = await call('/v1/instances/batch', { register: [pod('erin', 5), pod('frank', 6)], deregister: [{ service: 'pods', id: 'dave-pod' }] });
  expect([more.status, more.json.error]).toEqual([403, 'register[1]: token may register at most 2 instances; 2 are registered within its scope, and this would add 2 and remove 1; nothing was changed']);
  expect(await ids()).toEqual(['carol-pod', 'dave-pod']);
});

test('an instance a batch moves is not counted as removed', async () => {
  // carol moves to dave's address (displacing dave) and erin is new: +1 -1 net, carol itself not removed.
  const moved = await call('/v1/instances/batch', { register: [pod('carol', 4), pod('erin', 7)] });
  expect(moved.status).toBe(200);
  expect(await ids()).toEqual(['carol-pod', 'erin-pod']);
  // Registering carol again elsewhere and a new instance at carol's old address (now free): +1, nothing removed.
  const over = await call('/v1/instances/batch', { register: [pod('carol', 8), pod('gus', 4)] });
  expect([over.status, over.json.error]).toEqual([403, 'register[1]: token may register at most 2 instances; 2 are registered within its scope, and this would add 1; nothing was changed']);
});
