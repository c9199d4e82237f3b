import { Etcd3 } from 'etcd3';
import { api, until } from '../support/app';
import { CuttableProxy, EtcdCluster, describeWithEtcd } from '../support/etcd';
import { ExtProcClient } from '../support/extproc-client';
import { EdsRecorder, routedLabels, startReplica } from '../support/replicas';

const ALL_GRAY = 'rules:\n  - name: all-gray\n    service: shop\n    destinations: [{ name: gray, labels: { version: gray } }]\n    failover: none\n';

describeWithEtcd('replicas on one etcd', () => {
  let etcd: EtcdCluster;
  let prefixCount = 0;
  const cleanups: Array<() => unknown> = [];

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
  });
  afterAll(() => etcd.close());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** What `metaroute_liveness_takeovers_total` says on a replica. */
  const takeovers = async (admin: string) => /^metaroute_liveness_takeovers_total (\d+)$/m.exec((await api(admin, 'GET', '/metrics')).text)?.[1];

  async function replicas(endpointsOfA = etcd.endpoints) {
    const prefix = `/replicas-${++prefixCount}/`;
    const a = await startReplica(endpointsOfA, prefix);
    cleanups.push(() => a.app.stop());
    const b = await startReplica(etcd.endpoints, prefix);
    cleanups.push(() => b.app.stop());
    const clientA = new ExtProcClient(a.extProc);
    const clientB = new ExtProcClient(b.extProc);
    cleanups.push(() => (clientA.close(), clientB.close()));
    return { a, b, clientA, clientB };
  }

  test('a registration, a rule and a router config written on one replica reach the other one\'s ext_proc, xDS and APIs', async () => {
    const { a, b, clientA, clientB } = await replicas();
    expect((await api(b.admin, 'PUT', '/v1/rules', ALL_GRAY)).status).toBe(200);
    expect((await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'blue' }, ephemeral: false })).status).toBe(200);
    await until(() => b.app.registry.snapshot().services.has('default/shop'), 'B to learn of shop'); // before, its CLA is rightly empty
    const eds = new EdsRecorder(() => b.app.ports.xds, 'shop.default');
    cleanups.push(() => eds.close());
    await until(() => eds.last?.endpoints.length === 1, 'B to push the blue endpoint');

    // B's rules reach A's ext_proc through etcd and A's rollout; the registration below is what must be at once.
    await until(() => a.app.engine.current.rules.inbound.size > 0, 'A to route with the rules written on B');
    expect((await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.2', port: 2, metadata: { version: 'gray' }, ephemeral: false })).status).toBe(200);
    expect(await routedLabels(clientA, 'shop')).toEqual({ version: 'gray' }); // the writer answers with its write at once
    await until(async () => (await routedLabels(clientB, 'shop'))?.version === 'gray', 'B to route to gray');
    await until(() => eds.last?.endpoints.join() === '10.0.0.1:1,10.0.0.2:2', 'B to push both endpoints');
    expect((await api(a.admin, 'GET', '/v1/rules')).json.text).toBe(ALL_GRAY);

    expect((await api(b.admin, 'PUT', '/v1/routers/nearby/config', { enabled: true })).status).toBe(200);
    await until(async () => (await api(a.admin, 'GET', '/config_dump')).json.routers.nearby?.enabled === true, 'A to apply B\'s router config');

    expect((await api(b.admin, 'DELETE', '/v1/instances/default/shop/10.0.0.2:2')).status).toBe(200);
    // failover: none, so without a gray instance A answers 503 itself.
    await until(async () => (await clientA.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' })).immediate_response !== undefined, 'A to lose gray');
    expect(eds.pushes.every((p) => p.endpoints.length > 0)).toBe(true);
  });

  test("a prefix without its trailing /: an older version's keys still load, the spelling with / is the same deployment, and /<prefix>-staging/ stays out", async () => {
    const unslashed = `/unslashed-${++prefixCount}`;
    const client = new Etcd3({ hosts: etcd.endpoints });
    try {
      // As an older metaroute under `prefix: ${unslashed}` stored them, beside a deployment under `${unslashed}-staging/`.
      await client.put(`${unslashed}instances/default/shop/old`).value(JSON.stringify({ host: '10.0.0.1', port: 1, metadata: { version: 'gray' }, ephemeral: false, ttlSeconds: 30 }));
      await client.put(`${unslashed}rules`).value(JSON.stringify({ text: ALL_GRAY, origin: 'api', version: 3 }));
      await client.put(`${unslashed}-staging/instances/default/shop/theirs`).value(JSON.stringify({ host: '10.0.0.9', port: 9, ephemeral: false, ttlSeconds: 30 }));
      const a = await startReplica(etcd.endpoints, unslashed);
      cleanups.push(() => a.app.stop());
      const b = await startReplica(etcd.endpoints, `${unslashed}/`);
      cleanups.push(() => b.app.stop());
      for (const replica of [a, b]) {
        expect((await api(replica.admin, 'GET', '/v1/rules')).json).toMatchObject({ version: 3, text: ALL_GRAY });
        expect((await api(replica.admin, 'GET', '/v1/instances')).json.instances.map((i: { id: string }) => i.id)).toEqual(['old']);
      }
      expect((await api(b.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.2', port: 2, id: 'new', ephemeral: false })).status).toBe(200);
      await until(async () => (await api(a.admin, 'GET', '/v1/instances')).json.instances.length === 2, 'A to see the registration made on B');
      expect(await client.get(`${unslashed}/instances/default/shop/new`).string()).not.toBeNull();
    } finally {
      client.close();
    }
  });

  test('two instances stored at one address: a starting replica keeps the later write (not the later key) and deletes the other', async () => {
    const prefix = `/replicas-${++prefixCount}/`;
    const client = new Etcd3({ hosts: etcd.endpoints });
    try {
      // zz registered first, aa later at its address, and the delete of zz never happened (its writer stopped).
      await client.put(`${prefix}instances/default/shop/zz`).value(JSON.stringify({ host: '10.0.0.9', port: 80, metadata: { user: 'old' }, ephemeral: false, ttlSeconds: 30 }));
      await client.put(`${prefix}instances/default/shop/aa`).value(JSON.stringify({ host: '10.0.0.9', port: 80, metadata: { user: 'new' }, ephemeral: false, ttlSeconds: 30 }));
      const a = await startReplica(etcd.endpoints, prefix);
      cleanups.push(() => a.app.stop());
      const ids = async () => ((await api(a.admin, 'GET', '/v1/instances?service=shop')).json.instances as { id: string }[]).map((i) => i.id);
      expect(await ids()).toEqual(['aa']);
      await until(async () => (await client.getAll().prefix(`${prefix}instances/`).keys()).length === 1, 'zz deleted from etcd');
      expect(await client.getAll().prefix(`${prefix}instances/`).keys()).toEqual([`${prefix}instances/default/shop/aa`]);
    } finally {
      client.close();
    }
  });

  test('an ephemeral instance is kept by the replica that hears its heartbeats: the other replica takes it over, and expires it for both', async () => {
    const { a, b } = await replicas();
    for (const port of [1, 2]) expect((await api(a.admin, 'POST', '/v1/instances', { service: 'tmp', host: '10.0.0.1', port, ttlSeconds: 2 })).status).toBe(200);
    await until(() => b.app.registry.snapshot().services.get('default/tmp')?.instances.length === 2, 'B to see both');
    const started = Date.now();
    while (Date.now() - started < 4000) {
      expect((await api(b.admin, 'PUT', '/v1/instances/default/tmp/10.0.0.1:2/heartbeat')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 500));
    }
    // Eight heartbeats on B, one takeover: the rest found the instance held there.
    expect([await takeovers(a.admin), await takeovers(b.admin)]).toEqual(['0', '1']);
    const ports = (env: typeof a) => env.app.registry.snapshot().services.get('default/tmp')?.instances.map((i) => i.port);
    await until(() => ports(a)?.join() === '2' && ports(b)?.join() === '2', 'A to expire port 1 for both', 5000);
    expect((await api(a.admin, 'PUT', '/v1/instances/default/tmp/10.0.0.1:1/heartbeat')).status).toBe(404);
    await until(() => ports(a)?.length === 0 && ports(b)?.length === 0, 'B to expire port 2 once its heartbeats stop', 5000);
  });

  test('a batch of heartbeats longer than one turn\'s slice: each answered in its place, each instance taken over once', async () => {
    const { a, b } = await replicas();
    const register = Array.from({ length: 1200 }, (_, i) => ({ service: 'many', host: '10.0.0.2', port: i + 1, ttlSeconds: 30 }));
    expect((await api(a.admin, 'POST', '/v1/instances/batch', { register })).status).toBe(200);
    await until(() => b.app.registry.snapshot().services.get('default/many')?.instances.length === 1200, 'B to see them all');
    const refs = register.map((r) => ({ service: 'many', id: `10.0.0.2:${r.port}` }));
    const ghosts = [{ service: 'many', id: 'ghost-1' }, { service: 'many', id: 'ghost-2' }];
    // Unknown ones in the first and the last slice (500 a turn).
    const beat = await api(b.admin, 'POST', '/v1/heartbeats', { instances: [ghosts[0], ...refs, ghosts[1]] });
    expect(beat.json).toEqual({ alive: 1200, unknown: ghosts.map((g) => ({ namespace: 'default', ...g })) });
    expect([await takeovers(a.admin), await takeovers(b.admin)]).toEqual(['0', '1200']);
    expect((await api(b.admin, 'POST', '/v1/heartbeats', { instances: refs })).json).toEqual({ alive: 1200, unknown: [] });
    expect(await takeovers(b.admin)).toBe('1200'); // held there now
  });

  test('when the replica that heard an instance is cut off past its lease, the other one gives the instance a fresh TTL and keeps it on heartbeats', async () => {
    const proxy = await CuttableProxy.start(etcd.endpoint(0));
    cleanups.push(() => proxy.close());
    const { a, b } = await replicas([proxy.endpoint]);
    expect((await api(a.admin, 'POST', '/v1/instances', { service: 'tmp', host: '10.0.0.1', port: 1, ttlSeconds: 6 })).status).toBe(200);
    await until(() => b.app.registry.snapshot().services.get('default/tmp')?.instances.length === 1, 'B to see it');
    const client = new Etcd3({ hosts: etcd.endpoints });
    cleanups.push(() => client.close());
    const livenessKeys = () => client.getAll().prefix(`/replicas-${prefixCount}/liveness/`).keys();
    expect(await livenessKeys()).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      expect((await api(a.admin, 'PUT', '/v1/instances/default/tmp/10.0.0.1:1/heartbeat')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1000));
    }
    proxy.cut(); // A can renew nothing: etcd deletes its liveness key after A's 2 s lease
    const cutAt = Date.now();
    await until(async () => (await livenessKeys()).length === 0, "A's liveness key to go with its lease", 6000);
    // A cannot reach etcd to take it over again: its heartbeats fail, so an agent tries another replica.
    await until(async () => (await api(a.admin, 'PUT', '/v1/instances/default/tmp/10.0.0.1:1/heartbeat')).status === 503, 'A to stop answering as the holder');
    // B gave it a fresh 6 s TTL when the key went (about 2 s after the cut). Without that it would
    // be gone 6 s after A's last heartbeat (3 s after the cut) plus one pass of expiry.
    await until(() => Date.now() - cutAt > 5000, 'a moment');
    expect(b.app.registry.get('default', 'tmp', '10.0.0.1:1')).toBeDefined();
    for (let i = 0; i < 3; i++) {
      expect((await api(b.admin, 'PUT', '/v1/instances/default/tmp/10.0.0.1:1/heartbeat')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(b.app.registry.get('default', 'tmp', '10.0.0.1:1')).toBeDefined();
    expect(await livenessKeys()).toHaveLength(1); // B's now
    await until(() => b.app.registry.get('default', 'tmp', '10.0.0.1:1') === undefined, 'B to expire it once heartbeats stop', 9000);
  });

  test('a replica cut off from etcd keeps routing on its last snapshot, answers registrations 503 with the reason, then catches up', async () => {
    const proxy = await CuttableProxy.start(etcd.endpoint(0));
    cleanups.push(() => proxy.close());
    const { a, b, clientA } = await replicas([proxy.endpoint]);
    expect((await api(a.admin, 'PUT', '/v1/rules', ALL_GRAY)).status).toBe(200);
    expect((await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.2', port: 2, metadata: { version: 'gray' }, ephemeral: false })).status).toBe(200);
    proxy.cut();
    const refused = await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.3', port: 3, metadata: { version: 'gray' }, ephemeral: false });
    expect(refused.status).toBe(503);
    expect(refused.json.error).toContain('etcd');
    expect(refused.json.error).toContain('nothing was stored');
    expect(a.logs.some((m) => m.includes('writes answer 503'))).toBe(true);
    const storeAvailable = async (admin: string) => /^metaroute_store_available (\d)$/m.exec((await api(admin, 'GET', '/metrics')).text)?.[1];
    expect(await storeAvailable(a.admin)).toBe('0');
    expect(await storeAvailable(b.admin)).toBe('1');
    expect(await routedLabels(clientA, 'shop')).toEqual({ version: 'gray' });
    expect((await api(b.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.4', port: 4, metadata: { version: 'gray' }, ephemeral: false })).status).toBe(200);
    proxy.restore();
    await until(() => a.app.registry.snapshot().services.get('default/shop')?.instances.length === 2, 'A to catch up with B\'s write', 10_000);
    expect((await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.3', port: 3, metadata: { version: 'gray' }, ephemeral: false })).status).toBe(200);
    expect(await storeAvailable(a.admin)).toBe('1');
  });
});
