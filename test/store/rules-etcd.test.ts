import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { api, until } from '../support/app';
import { EtcdCluster, describeWithEtcd } from '../support/etcd';
import { startReplica } from '../support/replicas';
import { expectNoLostUpdate, racingPuts } from '../support/rule-race';

const rules = (version: string) => `rules:\n  - name: all\n    service: shop\n    destinations: [{ name: d, labels: { version: ${version} } }]\n`;

async function reloadSuccess(admin: string): Promise<number> {
  const { text } = await api(admin, 'GET', '/metrics');
  return Number(/^metaroute_rules_last_reload_success (\d)$/m.exec(text)![1]);
}

describeWithEtcd('rules on etcd', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  test('an edit saved while etcd is down is retried until etcd takes it; the reload gauge is 0 meanwhile', async () => {
    const etcd = await EtcdCluster.start(1);
    cleanups.push(() => etcd.close());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rules-file-etcd-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'live-rules.yaml');
    fs.writeFileSync(file, rules('gray'));
    const replica = await startReplica(etcd.endpoints, '/rules-file/', { rulesFile: file });
    cleanups.push(() => replica.app.stop());
    const records = () => replica.logs.map((l) => JSON.parse(l) as Record<string, any>);
    expect(await reloadSuccess(replica.admin)).toBe(1);

    await etcd.kill(0);
    fs.writeFileSync(file, rules('stable'));
    await until(() => records().some((r) => r['event'] === 'store.failed' && r['source'] === file && r['attempt'] === 2), 'two failed attempts', 30_000);
    const failures = records().filter((r) => r['event'] === 'store.failed' && r['source'] === file);
    expect(failures.map((r) => [r['level'], r['attempt'], r['retryInMs']])).toEqual([['error', 1, 1000], ['error', 2, 2000]]);
    expect(await reloadSuccess(replica.admin)).toBe(0);
    expect((await api(replica.admin, 'GET', '/v1/rules')).json.text).toBe(rules('gray'));

    await etcd.restart(0);
    await until(async () => (await api(replica.admin, 'GET', '/v1/rules')).json.text === rules('stable'), 'the pending edit to be stored', 30_000);
    expect(records().find((r) => r['event'] === 'rules.loaded' && r['version'] === 2)).toMatchObject({ level: 'info', source: file });
    expect(await reloadSuccess(replica.admin)).toBe(1);
  }, 90_000);

  test('concurrent PUTs through two replicas: each stored document gets its own version, the others answer 409', async () => {
    const etcd = await EtcdCluster.start(1);
    cleanups.push(() => etcd.close());
    const a = await startReplica(etcd.endpoints, '/rules-race/');
    cleanups.push(() => a.app.stop());
    const b = await startReplica(etcd.endpoints, '/rules-race/');
    cleanups.push(() => b.app.stop());
    for (let round = 0; round < 3; round++) {
      const answers = await racingPuts([a.admin, b.admin], 8, `round${round}`);
      await expectNoLostUpdate([a.admin, b.admin], answers);
    }
  }, 60_000);
});
