import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { api, until } from '../support/app';
import { sharedCli } from '../support/transpile';
import { ExtProcClient, lbLabels } from '../support/extproc-client';
import { freePort } from '../support/envoy';
import { parseInstance } from '../../src/registry/instance-input';
import { INSTANCES_PREFIX, storedRecord } from '../../src/registry/store-sync';
import { EmbeddedStore } from '../../src/store/embedded';

/** `metaroute serve` with `workers: 2` as a real process tree (primary + two ext_proc workers on one port). */
describe('workers: 2', () => {
  it('a registration or rule change through the admin API changes the answer of every worker', async () => {
    const main = sharedCli();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-workers-'));
    const [extProc, admin, xds] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, [main, 'serve'], {
      env: { PATH: process.env.PATH, METAROUTE_WORKERS: '2', METAROUTE_EXTPROC_PORT: String(extProc), METAROUTE_ADMIN_PORT: String(admin), METAROUTE_XDS_PORT: String(xds), METAROUTE_DATA_DIR: dir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${admin}`;
    const clients: ExtProcClient[] = [];
    try {
      await until(() => stderr.includes('metaroute serving'), `the server to start; stderr:\n${stderr}`, 20000);
      // Each worker warmed its ext_proc path before it bound (so before the primary said serving), and counted none of it.
      const beforeServing = stderr.slice(0, stderr.indexOf('metaroute serving'));
      expect(beforeServing.match(/"event":"extproc.warm-up","streams":3000,/g)).toHaveLength(2);
      const decisions = async () => ((await api(base, 'GET', '/config_dump')).json.workers as { decisions: number }[]).map((w) => w.decisions);
      expect(await decisions()).toEqual([0, 0]);
      expect((await api(base, 'PUT', '/v1/rules', 'rules:\n  - name: to-gray\n    service: shop\n    destinations: [{ name: gray, labels: { version: gray } }]\n')).status).toBe(200);
      expect((await api(base, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'gray' } })).status).toBe(200);

      // One connection per client; the primary hands connections to workers in turn, so four reach both.
      for (let i = 0; i < 4; i++) clients.push(new ExtProcClient(`127.0.0.1:${extProc}`, {}, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
      const ask = () => Promise.all(clients.map((c) => c.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' })));
      // The admin call answered once the primary applied the change; workers get it one IPC hop later.
      await until(async () => (await ask()).every((a) => lbLabels(a)?.version === 'gray'), 'every worker to route to gray');
      const before = await decisions();
      const answers = await ask();
      expect(answers.map((a) => lbLabels(a))).toEqual(Array(4).fill({ version: 'gray' }));
      const after = await decisions();
      expect(after.every((n, i) => n > before[i]!)).toBe(true); // both workers answered this round
      // The console's live split sums both workers' decisions.
      const splitTotal = async () => ((await api(base, 'GET', '/v1/services/default/shop/split')).json.series as { counts: number[] }[]).flatMap((s) => s.counts).reduce((x, y) => x + y, 0);
      await until(async () => (await splitTotal()) === after.reduce((x, y) => x + y, 0), 'the split to count every decision of both workers');

      // A change after the workers started reaches both: the instance goes, the rule has nowhere to send.
      expect((await api(base, 'DELETE', '/v1/instances/default/shop/10.0.0.1:1')).status).toBe(200);
      await until(async () => (await ask()).every((a) => lbLabels(a) === undefined), 'every worker to drop the instance');
      const last = await decisions();
      expect(last.every((n, i) => n > after[i]!)).toBe(true);

      // A worker that dies is replaced, and the new one starts from the current store.
      const dump = async () => (await api(base, 'GET', '/config_dump')).json.workers as { pid: number }[];
      const [victim] = await dump();
      process.kill(victim!.pid, 'SIGKILL');
      await until(async () => (await dump()).length === 2 && !(await dump()).some((w) => w.pid === victim!.pid), 'a replacement worker', 20000);
      expect((await api(base, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 2, metadata: { version: 'gray' } })).status).toBe(200);
      await until(async () => (await ask()).every((a) => lbLabels(a)?.version === 'gray'), 'every worker, the new one included, to route to gray');
      expect(stderr).toContain('starting another');

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      for (const c of clients) c.close();
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120000);

  it('two records a crash left at one address: every worker keeps the one written last, as the primary does', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-workers-load-'));
    // The later write's key sorts first: a worker going by key order would keep the other.
    const store = await EmbeddedStore.open(dir);
    for (const [id, version] of [['z-old', 'old'], ['a-new', 'new']] as const) {
      const parsed = parseInstance({ service: 'shop', id, host: '10.0.0.1', port: 1, metadata: { version }, ephemeral: false }, { ttlSeconds: 15 });
      if (!parsed.ok) throw new Error(parsed.errors.join('; '));
      await store.put(`${INSTANCES_PREFIX}default/shop/${id}`, storedRecord(parsed.instance));
    }
    await store.close();
    const main = sharedCli();
    const [extProc, admin, xds] = [await freePort(), await freePort(), await freePort()];
    const rules = path.join(dir, 'rules.yaml');
    fs.writeFileSync(rules, 'rules:\n  - name: by-version\n    service: shop\n    destinations: [{ name: new, labels: { version: new } }]\n');
    const child = spawn(process.execPath, [main, 'serve'], {
      env: { PATH: process.env.PATH, METAROUTE_WORKERS: '2', METAROUTE_EXTPROC_PORT: String(extProc), METAROUTE_ADMIN_PORT: String(admin), METAROUTE_XDS_PORT: String(xds), METAROUTE_DATA_DIR: dir, METAROUTE_RULES_FILE: rules },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const clients = Array.from({ length: 4 }, () => new ExtProcClient(`127.0.0.1:${extProc}`, {}, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
    try {
      await until(() => stderr.includes('metaroute serving'), `the server to start; stderr:\n${stderr}`, 20000);
      expect((await api(`http://127.0.0.1:${admin}`, 'GET', '/v1/instances')).json.instances.map((i: { id: string }) => i.id)).toEqual(['a-new']);
      // Four connections reach both workers (handed out in turn); each routes to the instance kept.
      const answers = await Promise.all(clients.map((c) => c.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' })));
      expect(answers.map((a) => lbLabels(a))).toEqual(Array(4).fill({ version: 'new' }));
    } finally {
      for (const c of clients) c.close();
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);
});
