import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Instance } from '../../src/model/instance';
import { parseInstance } from '../../src/registry/instance-input';
import { EmbeddedStore } from '../../src/store/embedded';
import { api, startApp } from '../support/app';
import { waitFor } from '../support/envoy';

/** An address holds one instance of a service: the latest registration there (a container reused for another user). */

const ids = async (admin: string) => ((await api(admin, 'GET', '/v1/instances?service=aigc')).json.instances as { id: string }[]).map((i) => i.id).sort();
const events = (logs: readonly string[], name: string) => logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === name);

test('a registration at the address of another instance of its service removes that one, from the registry and the store', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-address-'));
  const env = await startApp({ dataDir });
  try {
    const container = { service: 'aigc', host: '10.1.0.7', port: 8080 };
    expect((await api(env.admin, 'POST', '/v1/instances', { ...container, id: 'for-alice', metadata: { user: 'alice' } })).status).toBe(200);
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.0.7', port: 8081, id: 'next-door' })).status).toBe(200);
    expect((await api(env.admin, 'POST', '/v1/instances', { ...container, id: 'for-bob', metadata: { user: 'bob' } })).status).toBe(200);
    expect(await ids(env.admin)).toEqual(['for-bob', 'next-door']); // at once: the caller reads its own write
    // alice's agent heartbeating the old record is told to register again.
    expect((await api(env.admin, 'PUT', '/v1/instances/default/aigc/for-alice/heartbeat')).status).toBe(404);
    await waitFor('the displaced record deleted', () => (events(env.logs, 'instance.displaced').length === 1 ? true : undefined));
    expect(events(env.logs, 'instance.displaced')).toEqual([expect.objectContaining({ namespace: 'default', service: 'aigc', id: 'for-alice', by: 'for-bob', address: '10.1.0.7:8080' })]);
    // Another service may use the address.
    expect((await api(env.admin, 'POST', '/v1/instances', { ...container, service: 'other', id: 'x' })).status).toBe(200);
    expect(await ids(env.admin)).toEqual(['for-bob', 'next-door']);
  } finally {
    await env.app.stop();
  }
  const store = await EmbeddedStore.open(dataDir);
  try {
    expect((await store.list('instances/default/aigc/')).entries.map((e) => e.key).sort()).toEqual(['instances/default/aigc/for-bob', 'instances/default/aigc/next-door']);
  } finally {
    await store.close();
  }
});

test('two registrations of one id in flight at once, at the address of another instance: that one leaves the store too', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-address-'));
  const env = await startApp({ dataDir });
  try {
    const container = { service: 'aigc', host: '10.1.0.7', port: 8080 };
    expect((await api(env.admin, 'POST', '/v1/instances', { ...container, id: 'zz-old' })).status).toBe(200);
    const both = await Promise.all(['1', '2'].map((v) => api(env.admin, 'POST', '/v1/instances', { ...container, id: 'aa-new', metadata: { v } })));
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    await waitFor('the displaced record deleted', () => (events(env.logs, 'instance.displaced').length === 1 ? true : undefined));
  } finally {
    await env.app.stop();
  }
  const store = await EmbeddedStore.open(dataDir);
  try {
    expect((await store.list('instances/')).entries.map((e) => e.key)).toEqual(['instances/default/aigc/aa-new']);
  } finally {
    await store.close();
  }
});

test('a batch with two instances at one address is refused whole, naming both; replacing one in a batch works', async () => {
  const env = await startApp();
  try {
    const refused = await api(env.admin, 'POST', '/v1/instances/batch', { register: [{ service: 'aigc', host: '10.1.0.8', port: 80, id: 'a' }, { service: 'aigc', host: '10.1.0.8', port: 80, id: 'b' }] });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('register[1].port: 10.1.0.8:80 is the address of register[0] (id a) in the same service');
    expect(await ids(env.admin)).toEqual([]);
    expect((await api(env.admin, 'POST', '/v1/instances/batch', { register: [{ service: 'aigc', host: '10.1.0.8', port: 80, id: 'a' }] })).status).toBe(200);
    const replaced = await api(env.admin, 'POST', '/v1/instances/batch', { register: [{ service: 'aigc', host: '10.1.0.8', port: 80, id: 'b' }], deregister: [{ service: 'aigc', id: 'a' }] });
    expect(replaced.status).toBe(200);
    expect(await ids(env.admin)).toEqual(['b']);
  } finally {
    await env.app.stop();
  }
});

test.each([
  ['a', 'b'],
  ['b', 'a'], // the later write is earlier in key order: a displaced record left behind must not come back
])('two instances stored at one address (%s, then %s): the start keeps the later write and deletes the other', async (first, later) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-address-'));
  const store = await EmbeddedStore.open(dataDir);
  await store.put(`instances/default/aigc/${first}`, JSON.stringify({ host: '10.1.0.9', port: 80, metadata: { user: 'alice' }, ttlSeconds: 30 }));
  await store.put(`instances/default/aigc/${later}`, JSON.stringify({ host: '10.1.0.9', port: 80, metadata: { user: 'bob' }, ttlSeconds: 30 }));
  for (let i = 0; i < 20; i++) await store.put('instances/default/aigc/other', JSON.stringify({ host: '10.1.0.10', port: 80, ttlSeconds: 30 + i }));
  await store.close();
  await (await EmbeddedStore.open(dataDir, { compactAfterRecords: 8 })).close(); // compacted at open: the records keep their order
  const env = await startApp({ dataDir });
  try {
    expect(await ids(env.admin)).toEqual([later, 'other'].sort());
    expect(events(env.logs, 'instance.displaced')).toEqual([expect.objectContaining({ id: first, by: later, address: '10.1.0.9:80' })]);
  } finally {
    await env.app.stop();
  }
  const reopened = await EmbeddedStore.open(dataDir);
  try {
    expect((await reopened.list('instances/')).entries.map((e) => e.key).sort()).toEqual([`instances/default/aigc/${later}`, 'instances/default/aigc/other'].sort());
  } finally {
    await reopened.close();
  }
});

describe('an instance from the configuration file (registry.instances) displaced by a registration', () => {
  const configured = (id: string, host: string): Instance => {
    const parsed = parseInstance({ service: 'aigc', host, port: 80, id, ephemeral: false }, { ttlSeconds: 15 }, 'registry.instances[0]');
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    return parsed.instance;
  };
  let env: Awaited<ReturnType<typeof startApp>>;
  beforeEach(async () => {
    env = await startApp({ registry: { ttlSeconds: 15, instances: [configured('static-a', '10.1.1.1'), configured('static-b', '10.1.1.2')] } });
  });
  afterEach(() => env.app.stop());

  test('comes back when the registration deregisters', async () => {
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.1.1', port: 80, id: 'registered', ephemeral: false })).status).toBe(200);
    expect(await ids(env.admin)).toEqual(['registered', 'static-b']);
    await waitFor('the displacement logged', () => (events(env.logs, 'instance.displaced').length === 1 ? true : undefined));
    expect(events(env.logs, 'instance.displaced')).toEqual([expect.objectContaining({ id: 'static-a', by: 'registered', address: '10.1.1.1:80' })]);
    expect((await api(env.admin, 'DELETE', '/v1/instances/default/aigc/registered')).status).toBe(200);
    expect(await ids(env.admin)).toEqual(['static-a', 'static-b']);
  });

  test('comes back when the registration expires', async () => {
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.1.1', port: 80, id: 'registered', ttlSeconds: 1 })).status).toBe(200);
    expect(await ids(env.admin)).toEqual(['registered', 'static-b']);
    await waitFor('the registration to expire', () => (events(env.logs, 'instance.expired').length === 1 ? true : undefined));
    await waitFor('the configured instance back', async () => ((await ids(env.admin)).join() === 'static-a,static-b' ? true : undefined));
  });

  test('comes back when a registration under its id moves to another address, or deregisters', async () => {
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.1.1', port: 80, id: 'static-a', ephemeral: false, metadata: { user: 'x' } })).status).toBe(200);
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.1.2', port: 80, id: 'moving', ephemeral: false })).status).toBe(200);
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.1.3', port: 80, id: 'moving', ephemeral: false })).status).toBe(200);
    expect(await ids(env.admin)).toEqual(['moving', 'static-a', 'static-b']);
    expect((await api(env.admin, 'DELETE', '/v1/instances/default/aigc/static-a')).status).toBe(200);
    const listed = (await api(env.admin, 'GET', '/v1/instances?service=aigc')).json.instances as Array<{ id: string; metadata: Record<string, string> }>;
    expect(listed.find((i) => i.id === 'static-a')?.metadata).toEqual({});
  });

  test('comes back when the registration that took its id is displaced at its own address', async () => {
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.1.5', port: 80, id: 'static-a', ephemeral: false })).status).toBe(200);
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.1.5', port: 80, id: 'other', ephemeral: false })).status).toBe(200);
    const listed = (await api(env.admin, 'GET', '/v1/instances?service=aigc')).json.instances as Array<{ id: string; host: string }>;
    expect(listed.map((i) => `${i.id}@${i.host}`).sort()).toEqual(['other@10.1.1.5', 'static-a@10.1.1.1', 'static-b@10.1.1.2']);
  });

  test('does not displace a live registration: it waits until the address is free', async () => {
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.1.1', port: 80, id: 'first', ephemeral: false })).status).toBe(200);
    expect((await api(env.admin, 'POST', '/v1/instances', { service: 'aigc', host: '10.1.1.1', port: 80, id: 'second', ephemeral: false })).status).toBe(200);
    // The first's record is deleted from the store after the second took the address: that delete frees nothing.
    await waitFor('the first displaced', () => (events(env.logs, 'instance.displaced').some((e) => e.id === 'first') ? true : undefined));
    expect(await ids(env.admin)).toEqual(['second', 'static-b']);
    expect((await api(env.admin, 'DELETE', '/v1/instances/default/aigc/second')).status).toBe(200);
    expect(await ids(env.admin)).toEqual(['static-a', 'static-b']);
  });
});

test('at start, a stored registration displacing a configured instance does not get the record stored under the configured id deleted', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-address-'));
  const store = await EmbeddedStore.open(dataDir);
  // 'a' took the configured instance's address; 'static-c' is a registration under the configured id, elsewhere.
  await store.put('instances/default/aigc/a', JSON.stringify({ host: '10.1.1.1', port: 80, ephemeral: false, ttlSeconds: 15 }));
  await store.put('instances/default/aigc/static-c', JSON.stringify({ host: '10.1.1.9', port: 80, ephemeral: false, ttlSeconds: 15 }));
  await store.close();
  const parsed = parseInstance({ service: 'aigc', host: '10.1.1.1', port: 80, id: 'static-c', ephemeral: false }, { ttlSeconds: 15 }, 'registry.instances[0]');
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const env = await startApp({ dataDir, registry: { ttlSeconds: 15, instances: [parsed.instance] } });
  try {
    const listed = (await api(env.admin, 'GET', '/v1/instances?service=aigc')).json.instances as Array<{ id: string; host: string }>;
    expect(listed.map((i) => `${i.id}@${i.host}`).sort()).toEqual(['a@10.1.1.1', 'static-c@10.1.1.9']);
  } finally {
    await env.app.stop();
  }
  const reopened = await EmbeddedStore.open(dataDir);
  try {
    expect((await reopened.list('instances/')).entries.map((e) => e.key)).toEqual(['instances/default/aigc/a', 'instances/default/aigc/static-c']);
  } finally {
    await reopened.close();
  }
});
