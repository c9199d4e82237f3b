import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Etcd3, Range } from 'etcd3';
import { silentLogger } from '../../src/log/logger';
import { EtcdStore, type EtcdStoreConfig } from '../../src/store/etcd';
import { SPLIT_AT } from '../../src/model/sharded-map';
import { copyUnslashedKeys } from '../../src/store/etcd-unslashed';
import { StoreUnavailableError, type StoreEvent, type StorePut } from '../../src/store/store';
import { Registry } from '../../src/registry/registry';
import { RegistryStoreSync } from '../../src/registry/store-sync';
import { instance } from '../xds/helpers';
import { until } from '../support/app';
import { captureLogs } from '../support/logs';
import { CuttableProxy, EtcdCluster, OPENSSL, describeWithEtcd, makeCertificates } from '../support/etcd';
import { describeWith } from '../support/requires';

describeWithEtcd('etcd store against a real etcd', () => {
  let etcd: EtcdCluster;
  const open: EtcdStore[] = [];
  let prefixCount = 0;
  let prefix: string;

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
  });
  afterAll(() => etcd.close());
  beforeEach(() => {
    prefix = `/test-${++prefixCount}/`;
  });
  // Proxies and etcds a test started, closed whatever its outcome (one left open keeps jest
  // from exiting), last first and before the stores behind them.
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  /** A proxy to etcd that the test can cut, closed after it. */
  async function proxyToEtcd(): Promise<CuttableProxy> {
    const started = await CuttableProxy.start(etcd.endpoint(0));
    cleanups.push(() => started.close());
    return started;
  }

  async function store(endpoint = etcd.endpoint(0), logs: string[] = [], leaseSeconds = 2): Promise<EtcdStore> {
    const config: EtcdStoreConfig = { kind: 'etcd', endpoints: [endpoint], prefix, tls: undefined, auth: undefined, leaseSeconds };
    const s = await EtcdStore.open(config, captureLogs(logs).logger);
    open.push(s);
    return s;
  }

  function record(s: EtcdStore, watchPrefix = ''): StoreEvent[] {
    const events: StoreEvent[] = [];
    void s.list(watchPrefix).then(({ revision }) => s.watch(watchPrefix, revision, (e) => events.push(e)));
    return events;
  }

  test('two stores on one etcd: a write on one is listed and watched on both; the writer reads its own write at once', async () => {
    const a = await store();
    const b = await store();
    const seenByB = record(b, 'a/');
    const revision = await a.put('a/1', 'one');
    expect((await a.list('a/')).entries).toEqual([{ key: 'a/1', value: 'one' }]); // no wait: put resolves after A's watch applied it
    await a.put('b/1', 'other prefix');
    expect(await a.delete('a/1')).toBe(true);
    expect(await a.delete('a/1')).toBe(false);
    await until(() => seenByB.length === 2, 'B to see both changes');
    expect(seenByB.map((e) => [e.type, e.key, e.value])).toEqual([['put', 'a/1', 'one'], ['delete', 'a/1', undefined]]);
    expect(seenByB[0]!.revision).toBe(revision);
    const reopened = await store();
    expect((await reopened.list('')).entries).toEqual([{ key: 'b/1', value: 'other prefix' }]);
  });

  /** What etcd holds under the test's prefix (the store's history key aside): key -> lease id ('0' for none). */
  async function leasesInEtcd(under: string): Promise<Record<string, string>> {
    const client = new Etcd3({ hosts: etcd.endpoint(0) });
    try {
      const { kvs } = await client.getAll().prefix(prefix + under).exec();
      return Object.fromEntries(kvs.map((kv) => [kv.key.toString().slice(prefix.length), String(kv.lease)]).filter(([key]) => key !== '.history'));
    } finally {
      client.close();
    }
  }

  test('an ephemeral instance is stored with no lease, its liveness key on the replica\'s; the replica expires it (logged as expired, a deregistration is not), and the key goes too', async () => {
    const { logger, records } = captureLogs();
    const registry = new Registry();
    const sync = new RegistryStoreSync(await store(), registry, logger, 2);
    await sync.start();
    await sync.batch([instance('shop', 1, { ephemeral: true, ttlSeconds: 2 }), instance('shop', 2, { ephemeral: true, ttlSeconds: 2 }), instance('shop', 3)], []);
    const stored = await leasesInEtcd('');
    expect(Object.keys(stored).sort()).toEqual(['instances/default/shop/shop-1', 'instances/default/shop/shop-2', 'instances/default/shop/shop-3', 'liveness/default/shop/shop-1', 'liveness/default/shop/shop-2']);
    expect(stored['instances/default/shop/shop-1']).toBe('0');
    expect(stored['liveness/default/shop/shop-1']).not.toBe('0');
    expect(stored['liveness/default/shop/shop-2']).not.toBe('0');
    expect(await sync.deregister('default', 'shop', 'shop-2')).toBe(true);
    const ids = () => registry.snapshot().services.get('default/shop')?.instances.map((i) => i.id).sort();
    await until(async () => (await sync.expire(), ids()?.join() === 'shop-3'), 'the replica to expire shop-1', 8000);
    await until(async () => Object.keys(await leasesInEtcd('')).join() === 'instances/default/shop/shop-3', 'both liveness keys to go');
    const events = records().filter((r) => r.event === 'instance.expired' || r.event === 'instance.deregistered').map((r) => [r.event, r.id]);
    expect(events).toEqual([['instance.deregistered', 'shop-2'], ['instance.expired', 'shop-1']]);
    sync.stop();
  });

  test('heartbeats reaching another replica take the instance over with one write, then cost etcd nothing; the replica that no longer hears it leaves it alone', async () => {
    const [registryA, registryB] = [new Registry(), new Registry()];
    const [storeA, storeB] = [await store(), await store()];
    const [a, b] = [new RegistryStoreSync(storeA, registryA, silentLogger, 2), new RegistryStoreSync(storeB, registryB, silentLogger, 2)];
    await a.start();
    await b.start();
    await a.register(instance('shop', 1, { ephemeral: true, ttlSeconds: 2 }));
    await until(() => registryB.get('default', 'shop', 'shop-1') !== undefined, 'B to see it');
    expect(storeB.leases.holder('liveness/default/shop/shop-1')).toBe('another replica');
    expect(await b.heartbeat('default', 'shop', 'shop-1')).toBe(true);
    expect(storeB.leases.holder('liveness/default/shop/shop-1')).toBe('this replica'); // durable when the heartbeat answered
    const taken = storeB.revisionOf('liveness/default/shop/shop-1');
    const started = Date.now();
    while (Date.now() - started < 4000) {
      expect(await b.heartbeat('default', 'shop', 'shop-1')).toBe(true);
      expect(await a.expire()).toEqual([]); // past A's deadline, but B hears it
      expect(await b.expire()).toEqual([]);
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(storeB.revisionOf('liveness/default/shop/shop-1')).toBe(taken); // no write since the takeover
    expect(storeA.revisionOf('instances/default/shop/shop-1')).toBeLessThan(taken!);
    await until(async () => (await a.expire(), await b.expire(), registryA.get('default', 'shop', 'shop-1') === undefined), 'B to expire it once heartbeats stop', 6000);
    await until(async () => Object.keys(await leasesInEtcd('')).length === 0, 'its liveness key to go');
    a.stop();
    b.stop();
  });

  test('while etcd is out a heartbeat reaching another replica cannot take the instance over: no replica expires it for the outage, and the next heartbeat takes it over', async () => {
    const proxies = [await CuttableProxy.start(etcd.endpoint(0)), await CuttableProxy.start(etcd.endpoint(0))];
    try {
      const [registryA, registryB] = [new Registry(), new Registry()];
      // Leases that outlive the outage: only the outage itself must keep A from expiring it.
      const [a, b] = [new RegistryStoreSync(await store(proxies[0]!.endpoint, [], 10), registryA, silentLogger, 2), new RegistryStoreSync(await store(proxies[1]!.endpoint, [], 10), registryB, silentLogger, 2)];
      await a.start();
      await b.start();
      await a.register(instance('shop', 1, { ephemeral: true, ttlSeconds: 2 }));
      await until(() => registryB.get('default', 'shop', 'shop-1') !== undefined, 'B to see it');
      for (const proxy of proxies) proxy.cut();
      const cutAt = performance.now();
      while (performance.now() - cutAt < 4000) {
        await expect(b.heartbeat('default', 'shop', 'shop-1')).rejects.toThrow(StoreUnavailableError);
        await Promise.all([a.expire().catch(() => []), b.expire().catch(() => [])]);
        await new Promise((r) => setTimeout(r, 200));
      }
      for (const proxy of proxies) proxy.restore();
      const restoredAt = performance.now();
      while (performance.now() - restoredAt < 3000) {
        expect(await b.heartbeat('default', 'shop', 'shop-1')).toBe(true);
        expect(await a.expire()).toEqual([]); // A still holds its key as far as its mirror knows, and its TTL overlapped the outage
        expect(await b.expire()).toEqual([]);
        await new Promise((r) => setTimeout(r, 300));
      }
      expect([registryA.get('default', 'shop', 'shop-1')?.id, registryB.get('default', 'shop', 'shop-1')?.id]).toEqual(['shop-1', 'shop-1']);
      a.stop();
      b.stop();
    } finally {
      for (const proxy of proxies) proxy.close();
    }
  });

  test('a record an older version bound to a lease of its own is left to etcd: not expired while its lease lives, gone when etcd ends it', async () => {
    const registry = new Registry();
    const sync = new RegistryStoreSync(await store(), registry, silentLogger, 1);
    await sync.start();
    const client = new Etcd3({ hosts: etcd.endpoint(0) });
    try {
      const lease = client.lease(2); // kept alive by the client, as an older replica's heartbeats would
      await lease.put(`${prefix}instances/default/shop/legacy`).value(JSON.stringify({ host: '10.0.0.9', port: 80, ttlSeconds: 1 }));
      await until(() => registry.get('default', 'shop', 'legacy') !== undefined, 'the registry to load it');
      const started = performance.now();
      while (performance.now() - started < 3000) {
        expect(await sync.expire()).toEqual([]); // its 1 s TTL passed here, but etcd keeps it
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(registry.get('default', 'shop', 'legacy')).toBeDefined();
      await lease.revoke();
      await until(() => registry.get('default', 'shop', 'legacy') === undefined, 'etcd to delete it with its lease');
    } finally {
      client.close();
      sync.stop();
    }
  });

  test('putAll: more puts than one transaction takes, the last put of a key stays, and held puts go on the replica\'s leases', async () => {
    const a = await store();
    const b = await store();
    const puts: StorePut[] = Array.from({ length: 300 }, (_, i) => ({ key: `many/${String(i).padStart(3, '0')}`, value: `v${i}`, held: i === 1 || i === 200 }));
    puts.push({ key: 'many/000', value: 'last' });
    await a.putAll(puts);
    const { entries } = await a.list('many/'); // at once: putAll resolves after the watch applied every transaction
    expect(entries).toHaveLength(300);
    expect(entries[0]).toEqual({ key: 'many/000', value: 'last' });
    expect(entries[299]).toEqual({ key: 'many/299', value: 'v299' });
    expect([a.leases.holder('many/001'), a.leases.holder('many/200'), a.leases.holder('many/002')]).toEqual(['this replica', 'this replica', undefined]);
    await until(() => b.leases.holder('many/200') === 'another replica', 'B to see A hold it');
    const stored = await leasesInEtcd('many/');
    expect(Object.entries(stored).filter(([, lease]) => lease !== '0').map(([key]) => key)).toEqual(['many/001', 'many/200']);
  });

  test('a revision past 4 MiB of events (a prefix deleted at once) reaches the watch', async () => {
    const s = await store();
    const seen = record(s, 'big/');
    const client = new Etcd3({ hosts: etcd.endpoint(0) });
    try {
      const name = (i: number) => `${prefix}big/${'k'.repeat(200)}${i}`; // about 230 bytes per delete event
      for (let from = 0; from < 20_000; from += 128) {
        await client.kv.txn({ success: Array.from({ length: Math.min(128, 20_000 - from) }, (_, j) => ({ request_put: { key: Buffer.from(name(from + j)), value: Buffer.from('v') } })) });
      }
      await until(() => seen.length === 20_000, 'the puts to arrive', 10_000);
      await client.delete().prefix(`${prefix}big/`); // one revision of 20,000 deletes
      await until(() => seen.length === 40_000, 'the deletes to arrive', 10_000);
      expect((await s.list('big/')).entries).toEqual([]);
    } finally {
      client.close();
    }
  });

  test('held keys on many leases: every lease is renewed past its TTL; a put naming a lease etcd forgot grants only that one again', async () => {
    const s = await store(); // leases of 2 s
    const puts = Array.from({ length: 1000 }, (_, i) => ({ key: `spread/${i}`, value: 'v', held: true }));
    await s.putAll(puts);
    const before = await leasesInEtcd('spread/');
    expect(new Set(Object.values(before)).size).toBeGreaterThan(200); // spread over the replica's leases
    await new Promise((r) => setTimeout(r, 5000)); // two and a half TTLs
    expect(Object.keys(await leasesInEtcd('spread/'))).toHaveLength(1000);
    const forgotten = before['spread/0']!;
    const client = new Etcd3({ hosts: etcd.endpoint(0) });
    try {
      await client.leaseClient.leaseRevoke({ ID: forgotten });
    } finally {
      client.close();
    }
    await s.putAll(puts);
    const after = await leasesInEtcd('spread/');
    for (const [key, lease] of Object.entries(before)) {
      if (lease === forgotten) expect(after[key]).not.toBe(forgotten);
      else expect(after[key]).toBe(lease);
    }
    expect(puts.every((put) => s.leases.holder(put.key) === 'this replica')).toBe(true);
  });

  test('deleteIf deletes a key only while it holds the expected value; revisionOf is its last write', async () => {
    const s = await store();
    await s.put('cond/k', 'v1');
    const first = s.revisionOf('cond/k')!;
    await s.put('cond/k', 'v2');
    expect(s.revisionOf('cond/k')).toBeGreaterThan(first);
    expect(await s.deleteIf('cond/k', 'v1')).toBe(false); // replaced meanwhile: kept
    expect((await s.list('cond/')).entries).toEqual([{ key: 'cond/k', value: 'v2' }]);
    expect([await s.get('cond/k'), await s.get('cond/none')]).toEqual(['v2', undefined]);
    expect(await s.deleteIf('cond/k', 'v2')).toBe(true);
    expect((await s.list('cond/')).entries).toEqual([]); // the mirror applied it before deleteIf resolved
    expect(s.revisionOf('cond/k')).toBeUndefined();
  });

  test('putAll that etcd refuses stores nothing', async () => {
    const s = await store();
    // Past etcd's --max-request-bytes (1.5 MiB) but within its gRPC limit: InvalidArgument "request is too large", not retried.
    const tooLarge = 'x'.repeat(1.7 * 1024 * 1024);
    await expect(s.putAll([{ key: 'refused/a', value: 'a', held: true }, { key: 'refused/b', value: tooLarge, held: true }])).rejects.toThrow(StoreUnavailableError);
    expect((await s.list('refused/')).entries).toEqual([]);
    expect(await leasesInEtcd('refused/')).toEqual({});
  });

  test('putAll: a transaction refused while later ones are still being sent (one per turn) rejects the call, not the process, and the rest stay unsent', async () => {
    const s = await store();
    const tooLarge = 'x'.repeat(1.7 * 1024 * 1024);
    const puts = Array.from({ length: 128 * 100 }, (_, i) => ({ key: `turns/${String(i).padStart(5, '0')}`, value: i === 0 ? tooLarge : 'v', held: true }));
    await expect(s.putAll(puts)).rejects.toThrow('part of the batch may be stored');
    // Those sent before the refusal came back land; wait until nothing more does.
    let count = -1;
    await until(async () => {
      const now = (await s.list('turns/')).entries.length;
      const settled = now === count;
      count = now;
      await new Promise((r) => setTimeout(r, 200));
      return settled;
    }, 'the transactions sent to be applied');
    expect(count % 128).toBe(0); // whole transactions
    expect(count).toBeLessThan(puts.length - 128); // not every transaction after the refused one was sent
    if (count > 0) expect((await s.list('turns/')).entries[0]!.key).toBe('turns/00128');
  });

  test('putAll: a store closed between its transactions answers 503, sending no more', async () => {
    const s = await store();
    const puts = Array.from({ length: 128 * 100 }, (_, i) => ({ key: `closing/${String(i).padStart(5, '0')}`, value: 'v', held: true }));
    const outcome = s.putAll(puts).then(() => 'stored', (error: unknown) => error);
    await new Promise((r) => setImmediate(r));
    await s.close();
    expect(await outcome).toEqual(new StoreUnavailableError('the store closed while a batch was being written, part of the batch may be stored; try again'));
  });

  test('putAll on an etcd that takes fewer operations per transaction than 128 writes every put in smaller ones', async () => {
    const small = await EtcdCluster.start(1, undefined, ['--max-txn-ops', '50']);
    cleanups.push(() => small.close());
    const s = await store(small.endpoint(0));
    cleanups.push(() => s.close()); // before its etcd goes
    const puts = Array.from({ length: 300 }, (_, i) => ({ key: `few/${String(i).padStart(3, '0')}`, value: `v${i}`, held: i % 2 === 1 }));
    await s.putAll(puts);
    expect((await s.list('few/')).entries.map((e) => e.value)).toEqual(puts.map((p) => p.value));
    await s.putAll(puts.map((p) => ({ ...p, value: `${p.value}!` }))); // now at the size it learned
    expect((await s.list('few/')).entries.map((e) => e.value)).toEqual(puts.map((p) => `${p.value}!`));
  });

  test('held keys: another replica\'s put takes one over; closing a store deletes what it held at once; one cut off past its lease\'s TTL loses it, and a put on a lease etcd forgot gets a new one', async () => {
    const proxy = await CuttableProxy.start(etcd.endpoint(0));
    try {
      const logs: string[] = [];
      const a = await store();
      const b = await store();
      const cut = await store(proxy.endpoint, logs);
      const seenByB = record(b);
      await a.put('held/a', 'a', { held: true });
      await a.put('held/taken', 'a', { held: true });
      await cut.put('held/cut', 'c', { held: true });
      await b.put('held/taken', 'b', { held: true });
      await until(() => a.leases.holder('held/taken') === 'another replica', 'A to see B take it over');
      expect(b.leases.holder('held/taken')).toBe('this replica');
      await new Promise((r) => setTimeout(r, 3000)); // past the 2 s TTL: the leases are renewed
      expect(Object.keys(await leasesInEtcd('held/')).sort()).toEqual(['held/a', 'held/cut', 'held/taken']);
      const closedAt = Date.now();
      await a.close();
      await until(() => seenByB.some((e) => e.type === 'delete' && e.key === 'held/a'), 'held/a to go with A\'s revoked lease');
      expect(Date.now() - closedAt).toBeLessThan(1500);
      proxy.cut();
      await until(() => seenByB.some((e) => e.type === 'delete' && e.key === 'held/cut'), 'held/cut to go with the lease its store could not renew', 6000);
      // Its mirror still has the key, but not on a lease it can count on: a heartbeat there would take it over (and fail while cut off).
      await until(() => cut.leases.holder('held/cut') === 'another replica', 'the cut store to give up its lease', 4000);
      expect(logs.some((m) => m.includes('without a renewal'))).toBe(true);
      expect(cut.leases.lastOutage()).toBeGreaterThan(performance.now() - 4000);
      proxy.restore();
      await cut.put('held/cut', 'again', { held: true }); // on a new lease
      expect(cut.leases.holder('held/cut')).toBe('this replica');
      expect(Object.keys(await leasesInEtcd('held/')).sort()).toEqual(['held/cut', 'held/taken']);
      // etcd forgets B's lease (revoked behind its back): B's next put on it is refused, and retried on a new one.
      const client = new Etcd3({ hosts: etcd.endpoint(0) });
      try {
        await client.leaseClient.leaseRevoke({ ID: (await leasesInEtcd('held/'))['held/taken']! });
      } finally {
        client.close();
      }
      await b.put('held/taken', 'b again', { held: true });
      expect(b.leases.holder('held/taken')).toBe('this replica');
    } finally {
      proxy.close();
    }
  });

  test('a record an older metaroute bound to a lease of its own: refresh renews that lease, from any replica', async () => {
    const a = await store();
    const client = new Etcd3({ hosts: etcd.endpoint(0) });
    try {
      const lease = client.lease(2, { autoKeepAlive: false });
      await lease.put(`${prefix}legacy/kept`).value('k');
      await lease.grant();
      await until(async () => (await a.list('legacy/')).entries.length === 1, 'A to see it');
      const started = Date.now();
      while (Date.now() - started < 3500) {
        expect(await a.leases.refresh(['legacy/kept'])).toEqual([true]);
        await new Promise((r) => setTimeout(r, 500));
      }
      expect((await a.list('legacy/')).entries.map((e) => e.key)).toEqual(['legacy/kept']);
      expect(await a.leases.refresh(['legacy/none', 'legacy/kept'])).toEqual([false, true]);
      lease.release();
    } finally {
      client.close();
    }
  });

  test('cut off from etcd: keeps listing its last snapshot, writes fail with StoreUnavailableError, then its watch resumes where it stopped', async () => {
    const proxy = await proxyToEtcd();
    const logs: string[] = [];
    const cut = await store(proxy.endpoint, logs);
    const events = record(cut);
    const writer = await store();
    await writer.put('k/1', 'before');
    await until(async () => (await cut.list('k/')).entries.length === 1, 'the cut store to see k/1');
    proxy.cut();
    const refusedAt = Date.now();
    await expect(cut.put('k/2', 'refused')).rejects.toThrow(StoreUnavailableError);
    expect(Date.now() - refusedAt).toBeLessThan(10_000);
    expect(cut.available()).toBe(false);
    expect((await cut.list('k/')).entries).toEqual([{ key: 'k/1', value: 'before' }]);
    await writer.put('k/3', 'while cut');
    expect(logs.some((m) => m.includes('writes answer 503'))).toBe(true);
    proxy.restore();
    await until(async () => (await cut.list('k/')).entries.length === 2, 'the cut store to catch up', 10_000);
    // Available again without a write of its own: its probe found etcd taking writes (metaroute_store_available).
    await until(() => cut.available(), 'the cut store to find etcd taking writes again', 10_000);
    expect(logs.some((m) => m.includes('etcd takes writes again'))).toBe(true);
    expect(await cut.put('k/4', 'after')).toBeGreaterThan(0);
    // The watch resumed after the last revision it had applied: every change once, none again.
    expect(events.map((e) => e.key)).toEqual(['k/1', 'k/3', 'k/4']);
    expect(logs.some((m) => m.includes('resynchronised'))).toBe(false); // resumed, not relisted
  });

  test('a hung etcd (connections open, nothing answered): a write answers StoreUnavailableError once its budget is spent, not after every retry', async () => {
    const proxy = await proxyToEtcd();
    const hung = await store(proxy.endpoint);
    await hung.put('k/1', 'before');
    proxy.hang();
    // Two attempts wait out their 2 s deadlines; retrying all eight took 13–14 s.
    const sent = Date.now();
    // A timed-out write may have been committed: the answer does not say nothing was stored.
    await expect(hung.put('k/2', 'lost')).rejects.toThrow(/did not take the write, it may or may not be stored \(etcd did not answer in time; read it back\); try again: .*DEADLINE_EXCEEDED/i);
    expect(Date.now() - sent).toBeLessThan(6000); // two attempts of 2 s, not eight
    expect((await hung.list('k/')).entries).toEqual([{ key: 'k/1', value: 'before' }]);
  }, 15_000);

  test('an outage shorter than the retry window: a write issued during it is acknowledged when etcd is back, not refused', async () => {
    // Every attempt fails at once while cut, so the host's circuit breaker opens after three
    // (0.7 s in); the write must keep retrying through the open breaker, as through a leader
    // election, instead of answering 503 then (it did, at 0.7 s).
    const proxy = await proxyToEtcd();
    const cut = await store(proxy.endpoint);
    proxy.cut();
    const write = cut.put('k/during', 'v').then((revision) => ({ revision }), (error: Error) => ({ error: error.message }));
    await new Promise((r) => setTimeout(r, 1500));
    proxy.restore();
    expect(await write).toEqual({ revision: expect.any(Number) });
    expect((await cut.list('k/')).entries).toEqual([{ key: 'k/during', value: 'v' }]);
  }, 15_000);

  /** A store reaching etcd through a proxy that can cut it off, one writing directly, and the events the first is handed. */
  async function storeBehindProxy() {
    const proxy = await proxyToEtcd();
    const logs: string[] = [];
    const behind = await store(proxy.endpoint, logs);
    return { proxy, logs, behind, writer: await store(), events: record(behind) };
  }

  /** `changes` written while the proxy is cut, then compacted away in etcd: the store behind the proxy must relist. */
  async function missedAndCompacted(proxy: CuttableProxy, logs: string[], changes: () => Promise<void>): Promise<void> {
    proxy.cut();
    await changes();
    const client = new Etcd3({ hosts: etcd.endpoint(0) });
    const { header } = await client.kv.range({ key: Buffer.from(prefix) });
    await client.kv.compact({ revision: header.revision, physical: true });
    client.close();
    proxy.restore();
    await until(() => logs.some((m) => m.includes('resynchronised')), 'a relist after the compaction', 10_000);
  }

  test('a watch whose revision etcd compacted away lists again: nothing lost, nothing applied twice', async () => {
    const { proxy, logs, behind, writer, events } = await storeBehindProxy();
    await writer.put('k/stays', 'v1');
    await writer.put('k/changes', 'v1');
    await writer.put('k/goes', 'v1');
    await until(() => events.length === 3, 'the watch to see three puts');
    await missedAndCompacted(proxy, logs, async () => {
      await writer.put('k/changes', 'v2');
      await writer.delete('k/goes');
      await writer.put('k/new', 'v1');
    });
    expect((await behind.list('k/')).entries).toEqual([
      { key: 'k/changes', value: 'v2' },
      { key: 'k/new', value: 'v1' },
      { key: 'k/stays', value: 'v1' },
    ]);
    // The three changes it missed, each once; k/stays not again.
    expect(events.slice(3).map((e) => `${e.type} ${e.key} ${e.value ?? ''}`).sort()).toEqual(['delete k/goes ', 'put k/changes v2', 'put k/new v1']);
    await writer.put('k/later', 'v1'); // and the new watch follows on
    await until(() => events.length === 7, 'the new watch to deliver');
  });

  test('past the split of the mirror into shards, a relist after a compaction keeps, changes, adds and deletes the right keys, each once', async () => {
    const many = SPLIT_AT + 904; // 5,000: the mirror is sharded
    const { proxy, logs, behind, writer, events } = await storeBehindProxy();
    await writer.putAll(Array.from({ length: many }, (_, i) => ({ key: `k/${i}`, value: 'v1' })));
    await until(() => events.length === many, 'the watch to see every put', 20_000);
    await missedAndCompacted(proxy, logs, async () => {
      await writer.putAll([{ key: 'k/7', value: 'v2' }, { key: 'k/new', value: 'v1' }]);
      for (const i of [0, 1234, 4999]) await writer.delete(`k/${i}`);
    });
    const listed = new Map((await behind.list('k/')).entries.map((e) => [e.key, e.value] as const));
    expect(listed.size).toBe(many - 3 + 1);
    expect([listed.get('k/7'), listed.get('k/new'), listed.get('k/0'), listed.get('k/1234'), listed.get('k/4999'), listed.get('k/4998')]).toEqual(['v2', 'v1', undefined, undefined, undefined, 'v1']);
    expect(events.slice(many).map((e) => `${e.type} ${e.key} ${e.value ?? ''}`).sort()).toEqual(['delete k/0 ', 'delete k/1234 ', 'delete k/4999 ', 'put k/7 v2', 'put k/new v1']);
  }, 60_000);

  describe('a prefix is a path segment', () => {
    /** Another deployment on the same etcd whose prefix starts with this one's characters: `/test-1-staging/`. */
    async function neighbour(client: Etcd3, ours: string): Promise<string> {
      const theirs = `${ours.replace(/\/$/, '')}-staging/`;
      await client.put(`${theirs}instances/default/shop/x`).value(JSON.stringify({ host: '10.9.9.9', port: 80, ttlSeconds: 30 }));
      await client.put(`${theirs}rules`).value('{"text":"rules: []","origin":"api","version":1}');
      return theirs;
    }

    test('with or without its trailing /, the same keys; another deployment under /<prefix>-staging/ is neither listed nor watched', async () => {
      const client = new Etcd3({ hosts: etcd.endpoint(0) });
      try {
        const theirs = await neighbour(client, prefix);
        const unslashed = await EtcdStore.open({ kind: 'etcd', endpoints: [etcd.endpoint(0)], prefix: prefix.replace(/\/$/, ''), tls: undefined, auth: undefined, leaseSeconds: 2 }, silentLogger);
        open.push(unslashed);
        const slashed = await store();
        const events = record(unslashed);
        await unslashed.put('instances/default/shop/a', 'one');
        await until(async () => (await slashed.list('')).entries.length === 1, 'the other spelling to see the write');
        expect((await slashed.list('')).entries).toEqual([{ key: 'instances/default/shop/a', value: 'one' }]);
        expect(await client.get(`${prefix}instances/default/shop/a`).string()).toBe('one');
        await client.put(`${theirs}instances/default/shop/y`).value('theirs');
        await slashed.put('instances/default/shop/b', 'two'); // written after theirs: seen once the watch got this far
        await until(() => events.length === 2, 'the watch to deliver our two writes');
        expect(events.map((e) => e.key)).toEqual(['instances/default/shop/a', 'instances/default/shop/b']);
        expect((await unslashed.list('')).entries.map((e) => e.key)).toEqual(['instances/default/shop/a', 'instances/default/shop/b']);
      } finally {
        client.close();
      }
    });

    test('keys an older metaroute wrote under a prefix without its / (`/p` + `instances/...`) are copied under `/p/` at the first start, with their leases, once', async () => {
      const unslashed = prefix.replace(/\/$/, '');
      const client = new Etcd3({ hosts: etcd.endpoint(0) });
      try {
        await neighbour(client, prefix);
        const lease = client.lease(30, { autoKeepAlive: false });
        await lease.put(`${unslashed}instances/default/shop/eph`).value('ephemeral');
        await client.put(`${unslashed}instances/default/shop/per`).value('persistent');
        await client.put(`${unslashed}rules`).value('the rules');
        await client.put(`${unslashed}routers/nearby`).value('{}');
        await client.put(`${unslashed}.history`).value('old-history');
        const logs: string[] = [];
        const own = ['instances/', 'rules', 'routers/'];
        const config: EtcdStoreConfig = { kind: 'etcd', endpoints: [etcd.endpoint(0)], prefix: unslashed, tls: undefined, auth: undefined, leaseSeconds: 2 };
        const first = await EtcdStore.open(config, captureLogs(logs).logger, own);
        open.push(first);
        const expected = [
          { key: 'instances/default/shop/eph', value: 'ephemeral' },
          { key: 'instances/default/shop/per', value: 'persistent' },
          { key: 'routers/nearby', value: '{}' },
          { key: 'rules', value: 'the rules' },
        ];
        expect((await first.list('')).entries).toEqual(expected);
        const copied = await client.getAll().prefix(`${prefix}instances/`).exec();
        expect(copied.kvs.find((kv) => kv.key.toString().endsWith('/eph'))!.lease).toBe(String(await lease.grant()));
        expect(logs.find((l) => l.includes('copied 4 keys'))).toContain(`etcdctl del --prefix '${unslashed}instances/'`);
        // Left for replicas of the older version while they run.
        expect(await client.get(`${unslashed}rules`).string()).toBe('the rules');
        // Copied once: a later start (another replica) takes the new keys as they are.
        await first.put('rules', 'newer rules');
        await client.put(`${unslashed}instances/default/shop/late`).value('written by an older replica');
        const second = await EtcdStore.open(config, silentLogger, own);
        open.push(second);
        expect((await second.list('rules')).entries).toEqual([{ key: 'rules', value: 'newer rules' }]);
        expect((await second.list('instances/')).entries.map((e) => e.key)).toEqual(['instances/default/shop/eph', 'instances/default/shop/per']);
        lease.release();
      } finally {
        client.close();
      }
    });

    test('a prefix that is not ASCII is copied by its bytes', async () => {
      const unslashed = `${prefix.replace(/\/$/, '')}-métaroute`;
      const client = new Etcd3({ hosts: etcd.endpoint(0) });
      try {
        await client.put(`${unslashed}rules`).value('the rules');
        await client.put(`${unslashed}instances/default/shop/per`).value('persistent');
        const config: EtcdStoreConfig = { kind: 'etcd', endpoints: [etcd.endpoint(0)], prefix: unslashed, tls: undefined, auth: undefined, leaseSeconds: 2 };
        const copied = await EtcdStore.open(config, silentLogger, ['instances/', 'rules', 'routers/']);
        open.push(copied);
        expect((await copied.list('')).entries).toEqual([{ key: 'instances/default/shop/per', value: 'persistent' }, { key: 'rules', value: 'the rules' }]);
      } finally {
        client.close();
      }
    });

    test('a replica late to copy does not bring back a key a replica already serving deleted', async () => {
      const unslashed = prefix.replace(/\/$/, '');
      const client = new Etcd3({ hosts: etcd.endpoint(0) });
      const slow = new Etcd3({ hosts: etcd.endpoint(0) });
      try {
        await client.put(`${unslashed}instances/default/shop/gone`).value('persistent');
        // Replica B found no history under the segment, then is slow to send its copy.
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        const txn = slow.kv.txn.bind(slow.kv);
        (slow.kv as unknown as { txn: typeof txn }).txn = async (...args: Parameters<typeof txn>) => {
          await gate;
          return txn(...args);
        };
        let looked!: () => void;
        const lookedForHistory = new Promise<void>((resolve) => (looked = resolve));
        const range = slow.kv.range.bind(slow.kv);
        (slow.kv as unknown as { range: typeof range }).range = async (...args: Parameters<typeof range>) => {
          const answer = await range(...args);
          looked();
          return answer;
        };
        const copyingB = copyUnslashedKeys(slow, unslashed, ['instances/', 'rules', 'routers/'], '.history', silentLogger);
        await lookedForHistory;
        // Replica A copies, serves, and the instance is deregistered.
        const config: EtcdStoreConfig = { kind: 'etcd', endpoints: [etcd.endpoint(0)], prefix: unslashed, tls: undefined, auth: undefined, leaseSeconds: 2 };
        const a = await EtcdStore.open(config, silentLogger, ['instances/', 'rules', 'routers/']);
        open.push(a);
        expect(await a.delete('instances/default/shop/gone')).toBe(true);
        release();
        await copyingB;
        expect(await client.get(`${prefix}instances/default/shop/gone`).string()).toBeNull();
      } finally {
        client.close();
        slow.close();
      }
    });
  });

  test('closed while a relist is under way: no watch is started afterwards (it would retry on the closed client for good)', async () => {
    const s = await store();
    const watches = jest.spyOn(Etcd3.prototype, 'watch');
    // Holds the relist's answer (its etcd call already made) until the store has closed. Spying
    // on the private method is the only way to place the close inside that window every time.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let relisting!: () => void;
    const relistStarted = new Promise<void>((r) => (relisting = r));
    const proto = EtcdStore.prototype as unknown as { relist(): Promise<unknown> };
    const relist = proto.relist;
    const held = jest.spyOn(proto, 'relist').mockImplementation(async function (this: EtcdStore) {
      const answer = await relist.call(this);
      relisting();
      await released;
      return answer;
    });
    try {
      const raw = new Etcd3({ hosts: etcd.endpoint(0) });
      await raw.put(`${prefix}.history`).value('another-history'); // the store must relist
      raw.close();
      await relistStarted;
      const before = watches.mock.calls.length;
      await s.close();
      release();
      await new Promise((r) => setTimeout(r, 200));
      expect(watches.mock.calls.length).toBe(before);
    } finally {
      release();
      held.mockRestore();
      watches.mockRestore();
    }
  });

  test('an etcd connection error reads without grpc-js\'s empty "Resolution note: ", in the 503, the log and the start error', async () => {
    const proxy = await CuttableProxy.start(etcd.endpoint(0));
    try {
      const logs: string[] = [];
      const cut = await store(proxy.endpoint, logs);
      proxy.cut();
      const refused = await cut.put('k/1', 'v').then(() => undefined, (error: Error) => error.message);
      expect(refused).toMatch(/did not take the write, nothing was stored; try again: 14 UNAVAILABLE: No connection established\. Last error: [^\n]+\.$/);
      const logged = logs.find((m) => m.includes('writes answer 503'));
      expect(logged).toMatch(/14 UNAVAILABLE: No connection established\. Last error: [^"]+\.\); writes answer 503/);
      const config: EtcdStoreConfig = { kind: 'etcd', endpoints: [proxy.endpoint], prefix, tls: undefined, auth: undefined, leaseSeconds: 2 };
      const unreachable = await EtcdStore.open(config, silentLogger).then(() => undefined, (error: Error) => error.message);
      expect(unreachable).toMatch(/did not answer the first list .*: 14 UNAVAILABLE: No connection established\. Last error: [^\n]+\.$/);
      for (const text of [refused, logged, unreachable]) expect(text).not.toContain('Resolution note');
    } finally {
      await proxy.close();
    }
  });

  test('an unreachable etcd at start is a clear error naming the endpoints', async () => {
    const config: EtcdStoreConfig = { kind: 'etcd', endpoints: ['http://127.0.0.1:1'], prefix, tls: undefined, auth: undefined, leaseSeconds: 2 };
    await expect(EtcdStore.open(config, silentLogger)).rejects.toThrow('etcd at http://127.0.0.1:1 did not answer the first list');
  });
});

describeWithEtcd('etcd store over mutual TLS with a password', () => {
  describeWith(OPENSSL, 'certificates made with openssl', () => {
    test('connects with the CA, its client certificate and a role limited to its prefix; a wrong password, no client certificate or another prefix is refused at start', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-etcd-tls-'));
      const certs = makeCertificates(dir);
      const etcd = await EtcdCluster.start(1, { ca: certs.ca, ...certs.server });
      let store: EtcdStore | undefined; // closed before its etcd whatever the outcome: its lease renewals would go on for good
      try {
        const credentials = { rootCertificate: fs.readFileSync(certs.ca), certChain: fs.readFileSync(certs.client.cert), privateKey: fs.readFileSync(certs.client.key) };
        const admin = new Etcd3({ hosts: etcd.endpoints, credentials });
        await admin.user('root').create('root-password');
        await admin.role('root').create();
        await admin.user('root').addRole('root');
        await admin.role('metaroute').create();
        await admin.role('metaroute').grant({ permission: 'Readwrite', range: Range.prefix('/tls/') });
        await admin.user('metaroute').create('s3cret');
        await admin.user('metaroute').addRole('metaroute');
        await admin.auth.authEnable();
        admin.close();

        const config: EtcdStoreConfig = { kind: 'etcd', endpoints: etcd.endpoints, prefix: '/tls/', tls: { ca: certs.ca, ...certs.client }, auth: { username: 'metaroute', password: 's3cret' }, leaseSeconds: 5 };
        store = await EtcdStore.open(config, silentLogger);
        await store.put('k', 'v', { held: true });
        expect((await store.list('')).entries).toEqual([{ key: 'k', value: 'v' }]);
        expect(store.leases.holder('k')).toBe('this replica');
        await store.close();

        await expect(EtcdStore.open({ ...config, auth: { username: 'metaroute', password: 'wrong' } }, silentLogger)).rejects.toThrow(/did not answer the first list of \/tls\/ .*authentication failed/i);
        await expect(EtcdStore.open({ ...config, tls: { ca: certs.ca, cert: undefined, key: undefined } }, silentLogger)).rejects.toThrow('did not answer the first list');
        await expect(EtcdStore.open({ ...config, prefix: '/other/' }, silentLogger)).rejects.toThrow(/permission denied/i);
      } finally {
        await store?.close();
        await etcd.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 30_000);
  });
});
