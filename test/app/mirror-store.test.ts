import { MirrorStore } from '../../src/app/mirror-store';
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
