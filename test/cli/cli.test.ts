import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { api, startApp } from '../support/app';
import { ROOT, sharedCli } from '../support/transpile';

const run = promisify(execFile);

/** Runs the real entry point as a process. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [sharedCli(), ...args], { env: { PATH: process.env.PATH }, timeout: 20_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const COMMANDS = ['serve', 'validate', 'explain', 'analyze', 'agent'];

describe('metaroute CLI', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(await cli('--version')).toEqual({ code: 0, stdout: `metaroute ${version}\n`, stderr: '' });
  });

  it('--help lists every command; no command or an unknown one is usage with exit 2', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    for (const name of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(await cli()).toMatchObject({ code: 2, stderr: help.stdout });
    const unknown = await cli('serv');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "serv"');
  });

  it.each(COMMANDS)('%s --help and -h print its usage and exit 0, starting nothing', async (name) => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout } = await cli(name, flag);
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^usage: metaroute ${name}`));
      expect(stdout).toContain('-h, --help');
    }
  });

  it.each([
    [['serve', 'mr.yaml'], 'serve', 'Unexpected argument'],
    [['serve', '--bogus'], 'serve', "Unknown option '--bogus'"],
    [['serve', '--config'], 'serve', "Option '-c, --config <value>' argument missing"],
    [['validate'], 'validate', 'missing FILE'],
    [['validate', 'a.yaml', 'b.yaml'], 'validate', 'unexpected argument "b.yaml"'],
    [['explain', 'shop'], 'explain', 'Unexpected argument'],
    [['explain', '--header', 'novalue'], 'explain', '--header must be key=value, got "novalue"'],
    [['explain', '--service', 'shop', '--side', 'sideways'], 'explain', '--side must be edge, outbound, inbound, got "sideways"'],
    [['explain', '--service', 'shop', '--cluster', 'cart.default'], 'explain', '--cluster and --service name the same thing: give one'],
    [['explain', '--header', 'X-User=a', '--header', 'x-user=b'], 'explain', '--header x-user given twice'],
    [['explain', '--caller', 'web', '--caller-label', 'env=a', '--caller-label', 'zone=z1,env=b'], 'explain', '--caller-label env given twice'],
    // Read as the live path reads x-metaroute-caller-labels, whose streams this would fail: `env =b` is env again.
    [['explain', '--caller', 'web', '--caller-label', 'env=a,env =b'], 'explain', '--caller-label: x-metaroute-caller-labels gives "env" twice: one value per key'],
    // An empty value (a variable unset) names no label: leaving the flag out says that.
    [['explain', '--caller', 'web', '--caller-label', ''], 'explain', '--caller-label must be key=value (or several, K=V,K=V), got ""'],
    [['explain', '--caller', 'web', '--caller-label', ' , '], 'explain', '--caller-label must be key=value (or several, K=V,K=V), got " , "'],
    [['explain', '--claim', 'sub=a', '--claim', 'sub=b'], 'explain', '--claim sub given twice'],
    [['explain', '--service', 'shop', '--caller-label', 'env=dev1'], 'explain', '--caller-namespace, --caller-label and --caller-transitive describe the caller: give --caller too'],
    [['analyze', 'a.yaml', 'b.yaml'], 'analyze', 'unexpected argument "b.yaml"'],
  ])('%j is a usage error: exit 2 with the message and usage', async (args, name, message) => {
    const { code, stderr } = await cli(...args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain(`usage: metaroute ${name}`);
  });

  it('explain names the service it looked up, exits 1 for an unknown one, and names the URL when the server is down', async () => {
    const env = await startApp();
    try {
      await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 80, ephemeral: false });
      const ok = await cli('explain', '--admin', env.admin, '--authority', 'shop.default', '--header', 'x-user=a');
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ service: 'default/shop', cluster: 'shop.default', headerMutation: { set: [], remove: [] }, endpointsIgnored: '' });
      const outbound = await cli('explain', '--admin', env.admin, '--service', 'shop', '--side', 'outbound', '--caller', 'web', '--caller-label', 'env=dev1', '--caller-transitive', 'env');
      expect(JSON.parse(outbound.stdout).headerMutation.set).toContainEqual({ key: 'rpc-persist-env', value: 'dev1' });
      // The labels as a sidecar's x-metaroute-caller-labels writes them: split as the live path splits them.
      const listed = await cli('explain', '--admin', env.admin, '--service', 'shop', '--side', 'outbound', '--caller', 'web', '--caller-label', 'env=dev1,zone=z1', '--caller-transitive', 'env');
      expect(JSON.parse(listed.stdout).headerMutation.set).toContainEqual({ key: 'rpc-persist-env', value: 'dev1' });
      // A destination passed over is in the answer's rule step, with why.
      expect((await api(env.admin, 'PUT', '/v1/rules', 'rules:\n  - { name: gray-first, service: shop, destinations: [{ name: gray, labels: { track: gray } }], failover: all }\n')).status).toBe(200);
      const fellBack = await cli('explain', '--admin', env.admin, '--service', 'shop');
      expect(JSON.parse(fellBack.stdout).steps).toContainEqual(expect.objectContaining({ router: 'rule', note: 'gray-first: no healthy group, failover all', skipped: [{ destination: 'gray', priority: 0, reason: 'no instance has track=gray' }] }));

      const unknown = await cli('explain', '--admin', env.admin, '--service', 'nosuch');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('no registered service matches "nosuch"');
      const fromHeader = await cli('explain', '--admin', env.admin, '--authority', 'other.example');
      expect(fromHeader.code).toBe(1);
      expect(fromHeader.stderr).toContain('"other.example"');
    } finally {
      await env.app.stop();
    }
    const down = await cli('explain', '--admin', env.admin, '--service', 'shop');
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`cannot reach ${env.admin}/explain: ECONNREFUSED`);
  });

  it('validate exits 1 with path:line errors and 1 for an unreadable file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-cli-'));
    const file = path.join(dir, 'rules.yaml');
    fs.writeFileSync(file, 'rules:\n  - name: r\n    service: shop\n    destinations: []\n');
    const bad = await cli('validate', file);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`^${file}:4:\\d+: rules\\[0\\]\\.destinations`));
    const missing = await cli('validate', path.join(dir, 'none.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
  });

  it('serve on a port already taken exits 1, its stderr all JSON lines (grpc-js lines included)', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-cli-'));
    try {
      const config = path.join(dir, 'config.json');
      fs.writeFileSync(config, JSON.stringify({ host: '127.0.0.1', dataDir: path.join(dir, 'data'), ports: { extProc: (taken.address() as net.AddressInfo).port, xds: 0, admin: 0 } }));
      const served = await cli('serve', '--config', config);
      expect(served.code).toBe(1);
      const lines = served.stderr.trim().split('\n');
      const json = (line: string): { event?: string } | undefined => {
        try {
          return JSON.parse(line) as { event?: string };
        } catch {
          return undefined;
        }
      };
      expect(lines.filter((line) => json(line) === undefined)).toEqual([]);
      expect(lines.map((line) => json(line)?.event)).toEqual(expect.arrayContaining(['grpc', 'start.failed']));
    } finally {
      taken.close();
    }
  });
});
