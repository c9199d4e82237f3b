import { Etcd3 } from 'etcd3';
import { EtcdStore, type EtcdStoreConfig } from '../../src/store/etcd';
import type { StoreEvent } from '../../src/store/store';
import { api, until } from '../support/app';
import { captureLogs } from '../support/logs';
import { CuttableProxy, EtcdCluster, describeWithEtcd } from '../support/etcd';
import { startReplica } from '../support/replicas';

const PREFIX = '/reset/';

/** What a watcher holds after replaying every event it was handed since its list. */
function replay(initial: ReadonlyMap<string, string>, events: readonly StoreEvent[]): Map<string, string> {
  const state = new Map(initial);
  for (const e of events) {
    if (e.type === 'put') state.set(e.key, e.value!);
    else state.delete(e.key);
  }
  return state;
}

describeWithEtcd('etcd replaced or restored under running replicas', () => {
  let etcd: EtcdCluster;
  const cleanups: Array<() => unknown> = [];
  beforeEach(async () => {
    etcd = await EtcdCluster.start(1);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await etcd.close();
  });

  async function store(endpoints = etcd.endpoints): Promise<{ s: EtcdStore; logs: string[]; watched(): Promise<Map<string, string>> }> {
    const config: EtcdStoreConfig = { kind: 'etcd', endpoints, prefix: PREFIX, tls: undefined, auth: undefined, leaseSeconds: 10 };
    const logs: string[] = [];
    const s = await EtcdStore.open(config, captureLogs(logs).logger);
    cleanups.push(() => s.close());
    const { entries, revision } = await s.list('');
    const events: StoreEvent[] = [];
    s.watch('', revision, (e: StoreEvent) => events.push(e));
    const initial = new Map(entries.map((e) => [e.key, e.value] as const));
    return { s, logs, watched: async () => replay(initial, events) };
  }

  /** Whether a store lists exactly `expected`. */
  const holds = async (s: EtcdStore, expected: ReadonlyMap<string, string>): Promise<boolean> => JSON.stringify([...(await contents(s))]) === JSON.stringify([...expected].sort(([x], [y]) => (x < y ? -1 : 1)));
  const contents = async (s: EtcdStore): Promise<Map<string, string>> => new Map((await s.list('')).entries.map((e) => [e.key, e.value] as const));

  test('another history id written under the prefix (a replica that found etcd replaced claimed it) makes a running store relist, not adopt it', async () => {
    const a = await store();
    await a.s.put('instances/x', 'x1');
    const client = new Etcd3({ hosts: etcd.endpoints });
    try {
      await client.put(`${PREFIX}.history`).value('claimed-by-another-replica');
      await until(() => a.logs.some((l) => l.includes('store.reset')), 'a relist after a history id it did not follow');
      expect((await contents(a.s)).get('instances/x')).toBe('x1'); // the same data: nothing lost by the relist
    } finally {
      client.close();
    }
  });

  test('an etcd started again on an empty data dir: writes through a replica resolve and are listed and watched on both, keys only the old etcd had are deleted', async () => {
    const a = await store();
    const b = await store();
    await a.s.put('instances/old-1', 'o1');
    await a.s.put('instances/old-2', 'o2');
    await b.s.put('rules', 'r1');
    await until(async () => (await contents(b.s)).size === 3 && (await contents(a.s)).size === 3, 'both to hold the first writes');

    await etcd.kill(0);
    etcd.replaceData(0);
    await etcd.restart(0);

    const expected = new Map<string, string>();
    for (let i = 1; i <= 7; i++) {
      await a.s.put(`instances/new-${i}`, `n${i}`);
      expected.set(`instances/new-${i}`, `n${i}`);
      expect((await contents(a.s)).get(`instances/new-${i}`)).toBe(`n${i}`); // the writer reads its own write at once
    }
    expect(await contents(a.s)).toEqual(expected);
    await until(() => holds(b.s, expected), 'B to hold exactly the new etcd\'s keys', 10_000);
    // Every watcher was handed the deletes of the old keys and the new puts.
    expect(await a.watched()).toEqual(expected);
    expect(await b.watched()).toEqual(expected);
    for (const { logs } of [a, b]) expect(logs.some((m) => m.includes('"store.reset"'))).toBe(true);

    // And the watches follow on in the new history.
    await b.s.put('rules', 'r2');
    expect((await contents(b.s)).get('rules')).toBe('r2');
    await until(async () => (await contents(a.s)).get('rules') === 'r2', 'A to see B\'s write');
  }, 60_000);

  test('a replica away while etcd was replaced and written past its revision (same cluster id) notices when it is back', async () => {
    const proxy = await CuttableProxy.start(etcd.endpoint(0));
    cleanups.push(() => proxy.close());
    const a = await store();
    const b = await store([proxy.endpoint]);
    for (let i = 1; i <= 3; i++) await a.s.put(`k/old-${i}`, 'o');
    await until(async () => (await contents(b.s)).size === 3, 'B to hold the first writes');
    proxy.cut();
    await etcd.kill(0);
    etcd.replaceData(0);
    await etcd.restart(0);
    const expected = new Map<string, string>();
    for (let i = 1; i <= 10; i++) {
      await a.s.put(`k/new-${i}`, 'n');
      expected.set(`k/new-${i}`, 'n');
    }
    proxy.restore();
    await until(() => holds(b.s, expected), 'B to hold exactly the new etcd\'s keys', 10_000);
    expect(await b.watched()).toEqual(expected);
    expect(b.logs.some((m) => m.includes('"store.reset"') && m.includes('etcd history'))).toBe(true);
  }, 60_000);

  test('an etcd restored to an older copy of its data: both replicas go back to its contents, and writes resolve and are seen', async () => {
    const a = await store();
    const b = await store();
    await a.s.put('k/1', 'v1');
    await a.s.put('k/2', 'v1');
    await etcd.kill(0);
    const saved = etcd.saveData(0);
    await etcd.restart(0);
    await a.s.put('k/2', 'v2');
    await a.s.put('k/3', 'v1');
    expect(await a.s.delete('k/1')).toBe(true);
    for (let i = 0; i < 5; i++) await a.s.put('k/4', `v${i}`);
    await until(async () => (await contents(b.s)).get('k/4') === 'v4', 'B to see the later writes');

    await etcd.kill(0);
    etcd.replaceData(0, saved);
    await etcd.restart(0);

    const restored = new Map([['k/1', 'v1'], ['k/2', 'v1']]);
    for (const { s } of [a, b]) await until(() => holds(s, restored), 'the restored contents', 10_000);
    expect(await a.watched()).toEqual(restored);
    expect(await b.watched()).toEqual(restored);
    await a.s.put('k/5', 'v1');
    expect((await contents(a.s)).get('k/5')).toBe('v1');
    await until(async () => (await contents(b.s)).get('k/5') === 'v1', 'B to see a write after the restore');
    expect(await b.watched()).toEqual(new Map([...restored, ['k/5', 'v1']]));
  }, 60_000);

  test('two replicas: instances registered after etcd was replaced are served by both, the old ones are gone', async () => {
    const a = await startReplica(etcd.endpoints, PREFIX);
    cleanups.push(() => a.app.stop()); // before the second starts: stopped also if that fails
    const b = await startReplica(etcd.endpoints, PREFIX);
    cleanups.push(() => b.app.stop());
    const ports = (r: typeof a) => r.app.registry.snapshot().services.get('default/shop')?.instances.map((i) => i.port).sort((x, y) => x - y) ?? [];
    for (const port of [1, 2]) expect((await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port, ephemeral: false })).status).toBe(200);
    await until(() => ports(b).length === 2, 'B to serve the first two');

    await etcd.kill(0);
    etcd.replaceData(0);
    await etcd.restart(0);

    const fresh = [11, 12, 13, 14, 15, 16, 17];
    for (const port of fresh) {
      await until(async () => (await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port, ephemeral: false })).status === 200, 'A to take the registration', 10_000);
    }
    expect(ports(a)).toEqual(fresh); // acknowledged, so served
    await until(() => JSON.stringify(ports(b)) === JSON.stringify(fresh), 'B to serve exactly the new instances', 10_000);
    expect((await api(b.admin, 'GET', '/v1/instances')).json.instances).toHaveLength(7);
  }, 60_000);
});
