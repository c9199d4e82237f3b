import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../src/log/logger';
import { Registry } from '../../src/registry/registry';
import { INSTANCES_PREFIX, RegistryStoreSync } from '../../src/registry/store-sync';
import { EmbeddedStore } from '../../src/store/embedded';
import { until } from '../support/app';
import { instance } from '../xds/helpers';

/**
 * A record another version stored spells its instance otherwise than this one would: fields at
 * their defaults written out, an IPv6 address in capitals. When a registration displaces that
 * instance, its record must leave the store all the same, or it comes back at a start once the
 * instance that displaced it is gone.
 */
test.each([
  ['defaults written out', '10.0.0.1', '{"host":"10.0.0.1","port":80,"weight":100,"healthy":true,"ephemeral":false,"ttlSeconds":15}'],
  ['an IPv6 address in capitals', 'fd00::5', '{"host":"FD00::0005","port":80,"ephemeral":false,"ttlSeconds":15}'],
])('%s: displaced, deleted, and it stays gone after the other leaves', async (_name, host, record) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-displaced-spelling-'));
  const open = async () => {
    const store = await EmbeddedStore.open(dir);
    const registry = new Registry();
    const sync = new RegistryStoreSync(store, registry, silentLogger, 15);
    await sync.start();
    await sync.dropAtLoad();
    return { store, registry, sync, close: async () => (sync.stop(), await store.close()) };
  };
  const first = await EmbeddedStore.open(dir);
  await first.put(`${INSTANCES_PREFIX}default/shop/old`, record);
  await first.close();

  const running = await open();
  expect(running.registry.get('default', 'shop', 'old')?.host).toBe(host);
  await running.sync.register(instance('shop', 80, { id: 'new', host, ephemeral: false }));
  expect(running.registry.get('default', 'shop', 'old')).toBeUndefined();
  // The displaced record's delete follows the registration's answer.
  const keys = async () => (await running.store.list(INSTANCES_PREFIX)).entries.map((e) => e.key);
  await until(async () => (await keys()).length === 1, 'the displaced record to be deleted');
  expect(await keys()).toEqual([`${INSTANCES_PREFIX}default/shop/new`]);
  await running.sync.deregister('default', 'shop', 'new');
  await running.close();

  const restarted = await open();
  expect(restarted.registry.snapshot().services.get('default/shop')?.instances ?? []).toEqual([]);
  await restarted.close();
});
