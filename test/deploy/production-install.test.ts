import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { until } from '../support/app';
import { ROOT, transpileTo } from '../support/transpile';

const run = promisify(execFile);

/**
 * What an image build does: `npm ci --omit=dev` from package.json and the lock file alone,
 * into a folder with no repository node_modules above it, then every command from there.
 * `--offline` installs from npm's local cache (filled by the `npm ci` that precedes the test
 * run), so the test needs no network; a runtime package declared only as a dev dependency
 * is missing here and the commands below fail.
 */
describe('a production install (npm ci --omit=dev)', () => {
  let dir: string;
  let main: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-prod-'));
    for (const file of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
    await run('npm', ['ci', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, timeout: 240_000 }).catch((error: Error) => {
      throw new Error(`${error.message}\n(ENOTCACHED means npm's cache lacks a package: run \`npm ci\` in the repository first, as .ci/run does)`);
    });
    main = transpileTo(dir);
    // Envoy protos @grpc/grpc-js-xds lacks ship beside dist/, as in the image.
    fs.cpSync(path.join(ROOT, 'protos'), path.join(dir, 'protos'), { recursive: true });
  }, 300_000);

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cli = (args: string[]) => run(process.execPath, [main, ...args], { cwd: dir, env: { PATH: process.env.PATH }, timeout: 30_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );

  it('has no dev dependency installed and none resolvable from outside the folder', () => {
    expect(fs.existsSync(path.join(dir, 'node_modules', '@grpc', 'grpc-js-xds', 'deps', 'envoy-api'))).toBe(true);
    for (const dev of ['jest', 'typescript', 'ts-jest', 'kubernetes-models', 'dockerfile-ast']) {
      expect(fs.existsSync(path.join(dir, 'node_modules', dev))).toBe(false);
    }
    for (let up = path.dirname(dir); up !== path.dirname(up); up = path.dirname(up)) expect(fs.existsSync(path.join(up, 'node_modules'))).toBe(false);
  });

  it('runs --version and validate', async () => {
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `metaroute ${version}\n` });
    const rules = path.join(dir, 'rules.yaml');
    fs.writeFileSync(rules, 'rules:\n  - name: r\n    service: shop\n    destinations:\n      - { name: gray, labels: { version: gray } }\n');
    expect(await cli(['validate', rules])).toMatchObject({ code: 0, stdout: `${rules}: ok (1 rules, 0 metadata routes)\n` });
  });

  it('serves (xDS protos load), answers explain and registers an agent, then stops on SIGTERM', async () => {
    const server = spawn(process.execPath, [main, 'serve'], {
      cwd: dir,
      env: { PATH: process.env.PATH, METAROUTE_EXTPROC_PORT: '0', METAROUTE_XDS_PORT: '0', METAROUTE_ADMIN_PORT: '0', METAROUTE_DATA_DIR: path.join(dir, 'data') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(server);
    let stderr = '';
    server.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
    const serving = () => stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.event === 'serving');
    await until(() => serving() !== undefined || server.exitCode !== null, `the server to start; stderr:\n${stderr}`, 20_000);
    const { ports } = serving();
    const admin = `http://127.0.0.1:${ports.admin}`;
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);

    const agent = spawn(process.execPath, [main, 'agent', '--admin', admin, '--service', 'shop', '--host', '10.0.0.1', '--port', '8080', '--label', 'version=gray'], { cwd: dir, env: { PATH: process.env.PATH }, stdio: 'ignore' });
    children.push(agent);
    const agentExited = new Promise<number | null>((resolve) => agent.on('exit', resolve));
    await until(async () => ((await (await fetch(`${admin}/v1/instances`)).json()) as { instances: unknown[] }).instances.length === 1, 'the agent to register', 10_000);

    const explained = await cli(['explain', '--admin', admin, '--service', 'shop']);
    expect(explained.code).toBe(0);
    expect(JSON.parse(explained.stdout)).toMatchObject({ service: 'default/shop', decision: { kind: 'pass' } });

    agent.kill('SIGTERM');
    expect(await agentExited).toBe(0);
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});
