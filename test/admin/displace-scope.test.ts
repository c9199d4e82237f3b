import type { AuthConfig } from '../../src/admin/auth';
import { startApp } from '../support/app';

/** A registration at another instance's address removes that one: the token must be allowed to remove it. */
const ALICE = 'user-a-0123456789abcdef';
const BOB = 'user-b-0123456789abcdef';
const scope = { services: ['aigc'], optionalLabels: {}, addresses: [], maxInstances: undefined, admin: false };
const AUTH: AuthConfig = {
  requireAdminAuth: 'auto',
  tokens: [
    { ...scope, token: ALICE, labels: { user: ['A'] } },
    { ...scope, token: BOB, labels: { user: ['B'] } },
  ],
};

let env: Awaited<ReturnType<typeof startApp>>;
beforeEach(async () => {
  env = await startApp({ auth: AUTH });
  expect((await post('/v1/instances', BOB, container('bob', 'B'))).status).toBe(200);
});
afterEach(() => env.app.stop());

const container = (id: string, user: string) => ({ service: 'aigc', host: '10.0.0.5', port: 8080, id, metadata: { user }, ephemeral: false });

async function post(path: string, token: string, body: unknown) {
  const response = await fetch(`${env.admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as { error: string } };
}

const registered = () => env.app.registry.snapshot().services.get('default/aigc')?.instances.map((i) => i.id);

test("a token may not displace an instance outside its scope by registering at its address", async () => {
  const answer = await post('/v1/instances', ALICE, container('alice', 'A'));
  expect(answer).toEqual({ status: 409, json: { error: 'address 10.0.0.5:8080 is held by instance bob (user=B), which this token may not displace; it frees when that instance deregisters or expires', details: [] } });
  expect(registered()).toEqual(['bob']);
});

test('nor in a batch', async () => {
  const answer = await post('/v1/instances/batch', ALICE, { register: [container('alice', 'A')] });
  expect(answer.status).toBe(409);
  expect(answer.json.error).toBe('register[0]: address 10.0.0.5:8080 is held by instance bob (user=B), which this token may not displace; it frees when that instance deregisters or expires; nothing was changed');
  expect(registered()).toEqual(['bob']);
});

test('a token that covers the instance at the address still takes the address over', async () => {
  expect((await post('/v1/instances', BOB, container('bob-2', 'B'))).status).toBe(200);
  expect(registered()).toEqual(['bob-2']);
});
