import type { AuthConfig } from '../../src/admin/auth';
import { EmbeddedStore } from '../../src/store/embedded';
import { api, startApp, until } from '../support/app';

/**
 * maxInstances counts a call's additions net of what it removes; a removal that other calls on
 * their way can undo must not be counted on. The store is real: one write is only held back
 * (to open the window a group commit or an etcd round trip opens), and one delete fails (a
 * fault injected into the real store's method: a disk cannot be made to fail here on demand).
 */
const TOKEN = 'quota-races-0123456789abcdef';
const AUTH: AuthConfig = {
  requireAdminAuth: 'auto',
  tokens: [{ token: TOKEN, services: ['pods'], labels: {}, optionalLabels: { user: ['*'] }, addresses: [], maxInstances: 2, admin: false }],
};
let env: Awaited<ReturnType<typeof startApp>>;
beforeEach(async () => {
  env = await startApp({ auth: AUTH });
  expect((await call('/v1/instances', pod('a', 1))).status).toBe(200);
  expect((await call('/v1/instances', pod('b', 2))).status).toBe(200);
});
afterEach(async () => {
  jest.restoreAllMocks();
  await env.app.stop();
});

async function call(path: string, body: unknown) {
  const response = await fetch(`${env.admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as { error?: string } };
}
const pod = (id: string, n: number) => ({ service: 'pods', id, host: `10.1.0.${n}`, port: 80, metadata: { user: id }, ephemeral: false });
const remove = (id: string) => fetch(`${env.admin}/v1/instances/default/pods/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
const placed = async () => ((await api(env.admin, 'GET', '/v1/instances?service=pods')).json.instances as { id: string; host: string }[]).map((i) => `${i.id}@${i.host}`).sort();

test('a displacement on its way is no credit to other calls, nor to one that moves the displaced instance away', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const putAll = EmbeddedStore.prototype.putAll;
  jest.spyOn(EmbeddedStore.prototype, 'putAll').mockImplementation(function (this: EmbeddedStore, puts) {
    const bOntoA = puts.some((p) => p.key.endsWith('/b') && p.value.includes('"10.1.0.1"'));
    return bOntoA ? held.then(() => putAll.call(this, puts)) : putAll.call(this, puts);
  });
  const bOntoA = call('/v1/instances', pod('b', 1)); // displaces a when it applies: net -1
  await until(() => jest.mocked(EmbeddedStore.prototype.putAll).mock.calls.length > 0, 'the held write');
  const aAway = await call('/v1/instances', pod('a', 3)); // would leave b's write nothing to displace
  const c = await call('/v1/instances', pod('c', 4));
  release();
  expect((await bOntoA).status).toBe(200);
  expect([aAway.status, c.status]).toEqual([403, 403]);
  expect(c.json.error).toBe('token may register at most 2 instances; 2 are registered within its scope, and this would add 1');
  expect(await placed()).toEqual(['b@10.1.0.1']);
});

test('a batch counting on a deregistration that fails registers nothing', async () => {
  jest.spyOn(EmbeddedStore.prototype, 'delete').mockRejectedValueOnce(new Error('disk full'));
  const batch = await call('/v1/instances/batch', { register: [pod('c', 3)], deregister: [{ service: 'pods', id: 'a' }] });
  expect(batch.status).toBe(500);
  expect(await placed()).toEqual(['a@10.1.0.1', 'b@10.1.0.2']);
  // Without the fault the same batch fits.
  expect((await call('/v1/instances/batch', { register: [pod('c', 3)], deregister: [{ service: 'pods', id: 'a' }] })).status).toBe(200);
  expect(await placed()).toEqual(['b@10.1.0.2', 'c@10.1.0.3']);
});

test('a new instance two calls register at once stays counted while the second is on its way after the first failed', async () => {
  expect((await remove('b')).status).toBe(200);
  let failFirst!: () => void;
  let releaseSecond!: () => void;
  const firstFails = new Promise<void>((resolve) => (failFirst = resolve));
  const secondHeld = new Promise<void>((resolve) => (releaseSecond = resolve));
  const putAll = EmbeddedStore.prototype.putAll;
  let writesOfC = 0;
  jest.spyOn(EmbeddedStore.prototype, 'putAll').mockImplementation(function (this: EmbeddedStore, puts) {
    if (!puts.some((p) => p.key.endsWith('/c'))) return putAll.call(this, puts);
    return ++writesOfC === 1 ? firstFails.then(() => Promise.reject(new Error('disk full'))) : secondHeld.then(() => putAll.call(this, puts));
  });
  const first = call('/v1/instances', pod('c', 3));
  const second = call('/v1/instances', pod('c', 3));
  await until(() => writesOfC === 2, 'both writes of c');
  failFirst();
  expect((await first).status).toBe(500);
  const d = await call('/v1/instances', pod('d', 4)); // c is still on its way: 1 + 1 of 2
  releaseSecond();
  expect((await second).status).toBe(200);
  expect(d.status).toBe(403);
  expect(await placed()).toEqual(['a@10.1.0.1', 'c@10.1.0.3']);
});

test('an instance one call registered and another call on its way re-registers counts once', async () => {
  expect((await remove('b')).status).toBe(200);
  let releaseSecond!: () => void;
  const secondHeld = new Promise<void>((resolve) => (releaseSecond = resolve));
  const putAll = EmbeddedStore.prototype.putAll;
  let writesOfC = 0;
  jest.spyOn(EmbeddedStore.prototype, 'putAll').mockImplementation(function (this: EmbeddedStore, puts) {
    if (!puts.some((p) => p.key.endsWith('/c'))) return putAll.call(this, puts);
    return ++writesOfC === 1 ? putAll.call(this, puts) : secondHeld.then(() => putAll.call(this, puts));
  });
  const first = call('/v1/instances', pod('c', 3));
  const second = call('/v1/instances', pod('c', 3));
  expect((await first).status).toBe(200);
  expect((await remove('a')).status).toBe(200);
  const d = await call('/v1/instances', pod('d', 4)); // c and d: 2 of 2
  releaseSecond();
  expect((await second).status).toBe(200);
  expect(d.status).toBe(200);
  expect(await placed()).toEqual(['c@10.1.0.3', 'd@10.1.0.4']);
});

test('a re-registration on its way of an instance a DELETE removes still counts: its write brings it back', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const putAll = EmbeddedStore.prototype.putAll;
  jest.spyOn(EmbeddedStore.prototype, 'putAll').mockImplementation(function (this: EmbeddedStore, puts) {
    return puts.some((p) => p.key.endsWith('/a')) ? held.then(() => putAll.call(this, puts)) : putAll.call(this, puts);
  });
  const again = call('/v1/instances', pod('a', 1)); // an agent registering a again
  await until(() => jest.mocked(EmbeddedStore.prototype.putAll).mock.calls.length > 0, 'the held write');
  expect((await remove('a')).status).toBe(200);
  const c = await call('/v1/instances', pod('c', 3)); // a is on its way back: 2 of 2
  release();
  expect((await again).status).toBe(200);
  expect(c.status).toBe(403);
  expect(await placed()).toEqual(['a@10.1.0.1', 'b@10.1.0.2']);
});
