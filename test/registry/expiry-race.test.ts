import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../src/log/logger';
import { Registry } from '../../src/registry/registry';
import { RegistryStoreSync } from '../../src/registry/store-sync';
import { EmbeddedStore } from '../../src/store/embedded';
import { instance } from '../xds/helpers';

/**
 * On the embedded store this replica expires instances: it deletes their records, and the
 * registry drops them when the delete lands, a group commit later. What arrives in between
 * must not be answered as if the instance lived on, only to lose it then.
 */
let now = 1_000_000;
let store: EmbeddedStore;
let registry: Registry;
let sync: RegistryStoreSync;
beforeEach(async () => {
  store = await EmbeddedStore.open(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-expiry-race-')));
  registry = new Registry(() => now);
  sync = new RegistryStoreSync(store, registry, silentLogger, 30);
  await sync.start();
});
afterEach(async () => {
  sync.stop();
  await store.close();
});

const shop = instance('shop', 1, { ephemeral: true, ttlSeconds: 1 });
const stored = async () => (await store.list('')).entries.map((e) => e.key).filter((k) => !k.includes('/fence/'));
/** A write after everything queued so far: once it is applied, so is all before it (the store keeps order). */
const fence = () => sync.register(instance('fence', 9, { ephemeral: false }));

test('a heartbeat after expiry picked the instance answers unknown (register again), not alive', async () => {
  await sync.register(shop);
  now += 1500;
  const expiring = sync.expire();
  expect(await sync.heartbeat('default', 'shop', shop.id)).toBe(false);
  expect((await expiring).map((i) => i.id)).toEqual([shop.id]);
  await fence();
  expect(registry.get('default', 'shop', shop.id)).toBeUndefined();
  expect(await stored()).toEqual([]);
});

test('a heartbeat before its TTL passed keeps it, and it expires a TTL later', async () => {
  await sync.register(shop);
  now += 900;
  expect(await sync.heartbeat('default', 'shop', shop.id)).toBe(true);
  now += 900;
  expect(await sync.expire()).toEqual([]);
  now += 200;
  expect((await sync.expire()).map((i) => i.id)).toEqual([shop.id]);
});

test('a registration in flight when its TTL passed is not expired behind its back', async () => {
  await sync.register(shop);
  now += 1500;
  const registering = sync.register({ ...shop, metadata: { version: 'v2' } });
  expect(await sync.expire()).toEqual([]);
  await registering;
  await fence();
  expect(registry.get('default', 'shop', shop.id)?.metadata).toEqual({ version: 'v2' });
  expect(await stored()).toHaveLength(1);
  expect(await sync.heartbeat('default', 'shop', shop.id)).toBe(true);
  now += 1500;
  expect((await sync.expire()).map((i) => i.id)).toEqual([shop.id]); // its own lease, from the registration
});
