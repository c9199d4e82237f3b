import { MirrorStore } from '../../src/app/mirror-store';
import { silentLogger } from '../../src/log/logger';
import { Registry } from '../../src/registry/registry';
import { INSTANCES_PREFIX, RegistryStoreSync } from '../../src/registry/store-sync';
import type { StoreEvent } from '../../src/store/store';

describe("a worker's mirror of the primary's store", () => {
  test('lists the snapshot with later changes; after endListing changes still reach watchers and listing is refused', async () => {
    const store = new MirrorStore();
    store.load([{ key: '/instances/a', value: '1' }, { key: '/rules', value: 'r' }], 5);
    store.apply({ type: 'put', key: '/instances/b', value: '2', revision: 6 });
    store.apply({ type: 'delete', key: '/rules', revision: 7 });
    expect(await store.list('/instances/')).toEqual({ entries: [{ key: '/instances/a', value: '1' }, { key: '/instances/b', value: '2' }], revision: 7 });

    const seen: StoreEvent[] = [];
    store.watch('/instances/', 7, (event) => void seen.push(event));
    store.endListing();
    store.apply({ type: 'put', key: '/instances/c', value: '3', revision: 8 });
    store.apply({ type: 'put', key: '/rules', value: 'r2', revision: 9 });
    // After the primary's etcd store relisted a replaced etcd: revisions numbered anew, lower.
    store.apply({ type: 'delete', key: '/instances/c', revision: 2 });
    expect(seen).toEqual([{ type: 'put', key: '/instances/c', value: '3', revision: 8 }, { type: 'delete', key: '/instances/c', revision: 2 }]);
    await expect(store.list('/instances/')).rejects.toThrow('an ext_proc worker lists its store only while it starts');
    await expect(store.put()).rejects.toThrow('does not write');
  });
});

describe("a worker's registry loaded from a snapshot taken inside a displacement (both records at one address)", () => {
  const record = (id: string, version: string) => ({ key: `${INSTANCES_PREFIX}default/shop/${id}`, value: JSON.stringify({ host: '10.0.0.1', port: 80, metadata: { version }, ephemeral: false, ttlSeconds: 15 }) });
  /** The sync applies watch events a turn after they come. */
  const applied = () => new Promise((resolve) => setTimeout(resolve, 20));
  async function worker() {
    const store = new MirrorStore();
    // 'new' displaced 'old' on the primary, whose delete of 'old' had not landed when the snapshot was taken.
    // In key order 'old' comes last, so the worker (no write order) keeps it.
    store.load([record('new', 'v2'), record('old', 'v1')], 10);
    const registry = new Registry(() => 0, { expires: false });
    const sync = new RegistryStoreSync(store, registry, silentLogger, 15, false);
    await sync.start();
    store.endListing();
    const ids = () => (registry.snapshot().services.get('default/shop')?.instances ?? []).map((i) => i.id);
    return { store, sync, ids };
  }

  test("the primary's delete of the record it left out brings back the one the worker left out", async () => {
    const { store, sync, ids } = await worker();
    expect(ids()).toEqual(['old']);
    store.apply({ type: 'delete', key: record('old', 'v1').key, revision: 11 });
    await applied();
    expect(ids()).toEqual(['new']);
    sync.stop();
  });

  test('not once the left-out one changed meanwhile, nor over another instance at the address', async () => {
    const first = await worker();
    first.store.apply({ type: 'delete', key: record('new', 'v2').key, revision: 11 }); // deregistered meanwhile
    first.store.apply({ type: 'delete', key: record('old', 'v1').key, revision: 12 });
    await applied();
    expect(first.ids()).toEqual([]);
    first.sync.stop();
    const second = await worker();
    second.store.apply({ type: 'put', ...record('third', 'v3'), revision: 11 }); // registered at the address meanwhile
    second.store.apply({ type: 'delete', key: record('old', 'v1').key, revision: 12 });
    await applied();
    expect(second.ids()).toEqual(['third']);
    second.sync.stop();
  });
});
