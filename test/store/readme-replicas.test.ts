import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EtcdCluster, describeWithEtcd } from '../support/etcd';
import { REPO, freePort, waitFor } from '../support/envoy';
import { sharedCli } from '../support/transpile';

/**
 * README's "Several replicas on etcd", run as written with three substitutions: etcd is the
 * suite's (its port for 2379), free ports for the replicas' ports, and the run's transpiled CLI for
 * `node dist/cli/main.js` (no build inside the test suite).
 */
const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');

function sectionBlocks(): string[] {
  const start = README.indexOf('## Several replicas on etcd');
  const section = README.slice(start, README.indexOf('\n## ', start + 1));
  return [...section.matchAll(/^```[a-z]*\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
}

describeWithEtcd('README: two replicas on a local etcd', () => {
  const groups: ChildProcess[] = [];
  let etcd: EtcdCluster;

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
  });
  afterAll(async () => {
    for (const child of groups) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await etcd.close();
  });

  test('a registration through one replica is listed by the other', async () => {
    const ports = new Map<string, string>([['2379', new URL(etcd.endpoint(0)).port]]);
    for (const p of ['18080', '18000', '18090', '28080', '28000', '28090']) ports.set(p, String(await freePort()));
    const substitute = (text: string) => text.replace(/\b(2379|18080|18000|18090|28080|28000|28090)\b/g, (p) => ports.get(p)!)
      .replaceAll('node dist/cli/main.js', `node ${sharedCli()}`);

    const [start, use] = sectionBlocks() as [string, string];
    const [etcdLine, ...servers] = start.trim().split('\n');
    expect(etcdLine).toBe('etcd --data-dir /tmp/metaroute-etcd &');
    expect(servers).toHaveLength(3);
    const child = spawn('bash', ['-c', `${substitute(servers.join('\n'))}\nwait`], {
      cwd: REPO,
      // The first replica takes the default ports: pass the substituted ones as the environment would.
      env: { ...process.env, METAROUTE_EXTPROC_PORT: ports.get('18080'), METAROUTE_XDS_PORT: ports.get('18000'), METAROUTE_ADMIN_PORT: ports.get('18090'), METAROUTE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-readme-')) },
      detached: true,
      stdio: 'ignore',
    });
    groups.push(child);
    for (const admin of ['18090', '28090']) {
      await waitFor(`the replica on ${admin}`, async () => ((await fetch(`http://127.0.0.1:${ports.get(admin)}/healthz`)).ok ? true : undefined), 60_000);
    }
    const [register, list] = use.trim().split('\n') as [string, string];
    // stdin not a socket (Node's default pipes are): bash started at a low SHLVL takes a socket for sshd's and reads the system bashrc, which `-u` breaks.
    const bash = (script: string) => spawnSync('bash', ['-euo', 'pipefail', '-c', substitute(script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const registered = bash(register);
    expect(registered.stdout).toContain('"port":8081');
    const listed = bash(list);
    expect(JSON.parse(listed.stdout).instances.map((i: { port: number }) => i.port)).toEqual([8081]);
  }, 120_000);
});
