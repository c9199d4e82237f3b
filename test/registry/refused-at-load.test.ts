import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore } from '../../src/store/embedded';
import { api, startApp } from '../support/app';

test('stored instances that registration refuses now: ephemeral ones are deleted at start, persistent ones kept and logged', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-refused-'));
  // Written by an older metaroute, which took host names.
  const store = await EmbeddedStore.open(dataDir);
  await store.put('instances/default/shop/old-ephemeral', JSON.stringify({ host: 'shop-1.internal', port: 80, ttlSeconds: 30 }));
  await store.put('instances/default/shop/old-persistent', JSON.stringify({ host: 'shop-2.internal', port: 80, ephemeral: false, ttlSeconds: 30 }));
  await store.put('instances/default/shop/good', JSON.stringify({ host: '10.0.0.1', port: 80, ephemeral: false, ttlSeconds: 30 }));
  await store.close();

  const env = await startApp({ dataDir });
  try {
    const events = env.logs.map((l) => JSON.parse(l) as { event?: string; key?: string });
    expect(events.filter((e) => e.event === 'instance.refused').map((e) => e.key).sort()).toEqual(['instances/default/shop/old-ephemeral', 'instances/default/shop/old-persistent']);
    expect(events.filter((e) => e.event === 'instance.dropped').map((e) => e.key)).toEqual(['instances/default/shop/old-ephemeral']);
    expect(((await api(env.admin, 'GET', '/v1/instances?service=shop')).json.instances as { id: string }[]).map((i) => i.id)).toEqual(['good']);
  } finally {
    await env.app.stop();
  }
  const reopened = await EmbeddedStore.open(dataDir);
  try {
    expect((await reopened.list('instances/')).entries.map((e) => e.key).sort()).toEqual(['instances/default/shop/good', 'instances/default/shop/old-persistent']);
  } finally {
    await reopened.close();
  }
});

test('stored instances with more labels, or a shorter TTL, than a registration may ask are kept (stored before the limits)', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-many-labels-'));
  const metadata = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`k${i}`, 'v']));
  const store = await EmbeddedStore.open(dataDir);
  await store.put('instances/default/shop/stored-ephemeral', JSON.stringify({ host: '10.0.0.1', port: 80, metadata, ttlSeconds: 30 }));
  await store.put('instances/default/shop/stored-persistent', JSON.stringify({ host: '10.0.0.2', port: 80, metadata, ephemeral: false, ttlSeconds: 30 }));
  await store.put('instances/default/shop/stored-short-ttl', JSON.stringify({ host: '10.0.0.3', port: 80, ephemeral: false, ttlSeconds: 0.05 }));
  await store.close();
  const env = await startApp({ dataDir });
  try {
    const ids = ((await api(env.admin, 'GET', '/v1/instances?service=shop')).json.instances as { id: string }[]).map((i) => i.id).sort();
    expect(ids).toEqual(['stored-ephemeral', 'stored-persistent', 'stored-short-ttl']);
    // Its agent's heartbeats keep the ephemeral one; a registration of it again must fit the limit.
    expect((await api(env.admin, 'PUT', '/v1/instances/default/shop/stored-ephemeral/heartbeat')).status).toBe(200);
    const again = await api(env.admin, 'POST', '/v1/instances', { service: 'shop', id: 'stored-ephemeral', host: '10.0.0.1', port: 80, metadata });
    expect([again.status, again.json.details]).toEqual([400, ['metadata: 80 entries, at most 64']]);
    const shortTtl = await api(env.admin, 'POST', '/v1/instances', { service: 'shop', id: 'stored-short-ttl', host: '10.0.0.3', port: 80, ttlSeconds: 0.05 });
    expect([shortTtl.status, shortTtl.json.details]).toEqual([400, ['ttlSeconds: must be a number of seconds from 1 to 86400 (expiry runs once a second), got 0.05']]);
  } finally {
    await env.app.stop();
  }
});
