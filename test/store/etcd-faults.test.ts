import * as fs from 'node:fs';
import { Etcd3 } from 'etcd3';
import { api, until } from '../support/app';
import { EtcdCluster, describeWithEtcd } from '../support/etcd';
import { freePort } from '../support/envoy';
import { MetarouteProcess } from '../support/metaroute-process';
import { ExtProcClient } from '../support/extproc-client';
import { EdsRecorder, routedLabels, startReplica } from '../support/replicas';

const ALL_GRAY = 'rules:\n  - name: all-gray\n    service: shop\n    destinations: [{ name: gray, labels: { version: gray } }]\n    failover: none\n';

/** Registers `shop` instances on `admin` from `port` on, `concurrency` at a time, until `stop()`; returns the acknowledged ports. */
function writeLoad(admin: () => string, firstPort: number, concurrency = 4): { acked: number[]; refused: string[]; stop(): Promise<void> } {
  const state = { acked: [] as number[], refused: [] as string[], running: true };
  let next = firstPort;
  const worker = async () => {
    while (state.running) {
      const port = next++;
      try {
        const answer = await api(admin(), 'POST', '/v1/instances', { service: 'load', host: '10.9.0.1', port, ephemeral: false });
        if (answer.status === 200) state.acked.push(port);
        else state.refused.push(`${answer.status} ${answer.text}`);
      } catch {
        state.refused.push('no answer'); // the replica died mid-request: not acknowledged
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    get acked() {
      return state.acked;
    },
    get refused() {
      return state.refused;
    },
    stop: async () => {
      state.running = false;
      await Promise.all(workers);
    },
  };
}

async function storedLoadPorts(endpoints: readonly string[], prefix: string): Promise<Set<number>> {
  const client = new Etcd3({ hosts: [...endpoints] });
  const stored = await client.getAll().prefix(`${prefix}instances/default/load/`).strings();
  client.close();
  return new Set(Object.values(stored).map((v) => (JSON.parse(v) as { port: number }).port));
}

describeWithEtcd('faults against real etcd', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  test('kill -9 of a replica under write load loses no acknowledged write', async () => {
    const etcd = await EtcdCluster.start(1);
    cleanups.push(() => etcd.close());
    const replica = await MetarouteProcess.start({ store: { kind: 'etcd', endpoints: etcd.endpoints, prefix: '/kill9/' } });
    cleanups.push(() => fs.rmSync(replica.dir, { recursive: true, force: true }));
    cleanups.push(() => replica.stop()); // when the test failed before its kill
    const load = writeLoad(() => replica.admin, 1, 8);
    cleanups.push(() => load.stop());
    await until(() => load.acked.length >= 300, 'the replica to acknowledge 300 writes', 20_000);
    replica.signal('SIGKILL');
    await replica.exited();
    await load.stop();
    const stored = await storedLoadPorts(etcd.endpoints, '/kill9/');
    expect(load.acked.filter((port) => !stored.has(port))).toEqual([]);
    // And a replica started afterwards serves them all.
    const after = await startReplica(etcd.endpoints, '/kill9/');
    cleanups.push(() => after.app.stop());
    const served = new Set(after.app.registry.snapshot().services.get('default/load')!.instances.map((i) => i.port));
    expect(load.acked.filter((port) => !served.has(port))).toEqual([]);
  }, 60_000);

  describe('a 3-member etcd cluster under two replicas', () => {
    let etcd: EtcdCluster;
    beforeAll(async () => {
      etcd = await EtcdCluster.start(3);
    });
    afterAll(() => etcd.close());

    async function twoReplicas(prefix: string) {
      const a = await startReplica(etcd.endpoints, prefix);
      cleanups.push(() => a.app.stop());
      const b = await startReplica(etcd.endpoints, prefix);
      cleanups.push(() => b.app.stop());
      expect((await api(a.admin, 'PUT', '/v1/rules', ALL_GRAY)).status).toBe(200);
      for (let i = 1; i <= 20; i++) {
        expect((await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: i, metadata: { version: 'gray' }, ttlSeconds: 5 })).status).toBe(200);
      }
      const clients = [new ExtProcClient(a.extProc), new ExtProcClient(b.extProc)];
      cleanups.push(() => clients.forEach((c) => c.close()));
      const eds = new EdsRecorder(() => b.app.ports.xds, 'shop.default');
      cleanups.push(() => eds.close());
      await until(() => eds.last?.endpoints.length === 20, 'B to push all 20 endpoints');
      // Ephemeral instances (5 s TTL) kept alive through both replicas, as agents would. B takes
      // over those it hears from A, which registered them; a takeover fails while etcd is down,
      // and A must not expire them for that (HeardLiveness.mayBeHeardElsewhere).
      let beating = true;
      const heartbeats = (async () => {
        while (beating) {
          await Promise.all(Array.from({ length: 20 }, (_, i) => api([a, b][i % 2]!.admin, 'PUT', `/v1/instances/default/shop/10.0.0.1:${i + 1}/heartbeat`).catch(() => undefined)));
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      cleanups.push(async () => {
        beating = false;
        await heartbeats;
      });
      const routed = async () => Promise.all(clients.map((c) => routedLabels(c, 'shop')));
      return { a, b, eds, routed };
    }

    async function leaderIndex(): Promise<number> {
      for (let i = 0; i < 3; i++) {
        const client = new Etcd3({ hosts: etcd.endpoint(i) });
        try {
          const status = await client.maintenance.status();
          if (status.leader === status.header.member_id) return i;
        } catch {
          // a member that is down
        } finally {
          client.close();
        }
      }
      throw new Error('no etcd leader');
    }

    test('killing the etcd leader changes nothing visible: writes keep being acknowledged, routing and endpoints stay', async () => {
      const { a, b, eds, routed } = await twoReplicas('/member-kill/');
      const pushesBefore = eds.pushes.length;
      const load = writeLoad(() => a.admin, 1);
      cleanups.push(() => load.stop());
      await until(() => load.acked.length >= 50, 'writes before the kill');
      const leader = await leaderIndex();
      await etcd.kill(leader);
      cleanups.push(() => etcd.restart(leader)); // the later tests need the whole cluster, also when this one failed
      const ackedAtKill = load.acked.length;
      const answers: unknown[] = [];
      const started = Date.now();
      while (Date.now() - started < 3000) {
        answers.push(...(await routed()));
        await new Promise((r) => setTimeout(r, 50));
      }
      await until(() => load.acked.length >= ackedAtKill + 50, 'writes after the kill', 10_000);
      await load.stop();
      // Every write is acknowledged: the store retries through the election (it answered some 503
      // when every member's breaker had opened; etcd-store's "outage shorter than the retry window").
      expect(load.refused).toEqual([]);
      expect(answers.every((labels) => JSON.stringify(labels) === '{"version":"gray"}')).toBe(true);
      expect(eds.pushes.slice(pushesBefore).every((p) => p.endpoints.length === 20)).toBe(true);
      const stored = await storedLoadPorts(etcd.endpoints.filter((_, i) => i !== leader), '/member-kill/');
      expect(load.acked.filter((port) => !stored.has(port))).toEqual([]);
      await until(() => b.app.registry.snapshot().services.get('default/load')?.instances.length === stored.size, 'B to hold every write');
      await etcd.restart(leader);
    }, 60_000);

    test('all of etcd down for 10 s: both replicas route on their last snapshot, push no empty endpoint set, answer writes 503, then converge', async () => {
      const { a, b, eds, routed } = await twoReplicas('/all-down/');
      const pushesBefore = eds.pushes.length;
      await Promise.all([0, 1, 2].map((i) => etcd.kill(i)));
      cleanups.push(() => Promise.all([0, 1, 2].map((i) => etcd.restart(i))));
      const downAt = Date.now();
      const answers: unknown[] = [];
      let refused = 0;
      while (Date.now() - downAt < 10_000) {
        answers.push(...(await routed()));
        const write = await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.2', port: 1, metadata: { version: 'gray' }, ephemeral: false });
        if (write.status === 503) refused++;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(refused).toBeGreaterThan(0);
      expect(answers.every((labels) => JSON.stringify(labels) === '{"version":"gray"}')).toBe(true);
      await Promise.all([0, 1, 2].map((i) => etcd.restart(i)));
      let written = 0;
      await until(async () => (written = (await api(b.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.3', port: 1, metadata: { version: 'gray' }, ephemeral: false })).status) === 200, 'B to take writes again', 15_000);
      expect(written).toBe(200);
      await until(() => a.app.registry.snapshot().services.get('default/shop')?.instances.length === 21, 'A to converge on B\'s write', 10_000);
      await until(() => eds.last?.endpoints.length === 21, 'B to push 21 endpoints');
      expect(eds.pushes.slice(pushesBefore).every((p) => p.endpoints.length >= 20)).toBe(true);
      expect(a.logs.some((m) => m.includes('lost etcd'))).toBe(true);
    }, 60_000);

    test('a restarted replica pushes no empty or partial endpoint set before it has a complete snapshot', async () => {
      const { a } = await twoReplicas('/restart/');
      for (let i = 21; i <= 200; i++) {
        await api(a.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: i, metadata: { version: 'gray' }, ephemeral: false });
      }
      const xdsPort = await freePort();
      // The client dials (and redials) the port before the replica exists, so it is there the moment xDS binds.
      const eds = new EdsRecorder(() => xdsPort, 'shop.default');
      cleanups.push(() => eds.close());
      await new Promise((r) => setTimeout(r, 200));
      const c = await startReplica(etcd.endpoints, '/restart/', { ports: { extProc: 0, xds: xdsPort, admin: 0 } });
      cleanups.push(() => c.app.stop());
      await until(() => eds.pushes.length > 0, 'the first push');
      expect(eds.pushes.map((p) => p.endpoints.length)).toEqual(eds.pushes.map(() => 200));
    }, 60_000);
  });
});
