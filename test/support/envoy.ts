import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import type { Requirement } from './requires';

export const REPO = path.join(__dirname, '..', '..');
const VENV_LIB = path.join(REPO, '.venv-envoy', 'lib');

/** ENVOY_BIN, else the binary scripts/install-envoy.sh put into .venv-envoy. */
function findEnvoy(): string | undefined {
  const fromEnv = process.env['ENVOY_BIN'];
  if (fromEnv) return fromEnv;
  if (!fs.existsSync(VENV_LIB)) return undefined;
  for (const python of fs.readdirSync(VENV_LIB)) {
    const candidate = path.join(VENV_LIB, python, 'site-packages', 'envoy', '_bin', 'envoy');
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

export const ENVOY: Requirement = { what: 'Envoy', path: findEnvoy(), install: 'npm run envoy:install (or set ENVOY_BIN)' };

/** `envoy --mode validate`: Envoy itself loads the whole config, every typed_config included. */
export function validateWithEnvoy(configPath: string): { ok: boolean; output: string } {
  const result = spawnSync(ENVOY.path!, ['--mode', 'validate', '-c', configPath, '--log-level', 'warn'], { encoding: 'utf8', timeout: 60_000 });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/** Ports handed out by this process, so two calls never return the same one before it is bound. */
const handedOut = new Set<number>();

/**
 * A free loopback port below Linux's ephemeral range (32768-60999). A port from that range can be
 * taken as the source port of an outgoing connection (Envoy reconnecting, a backend call) while a
 * test has the process that owns it stopped, and the restarted process then fails with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port) || !(await canBind(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free loopback port in 20000-31999 after 200 tries');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Thrown by a `waitFor` attempt when waiting longer cannot help (the awaited process exited). */
export class StopWaiting extends Error {}

/** Retries `attempt` every 100 ms until it returns a value (bounded), or it throws `StopWaiting`. */
export async function waitFor<T>(what: string, attempt: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** A shipped bootstrap (envoy/<file>) as an object, for a test to substitute ports and keys in. */
export function shippedBootstrap(file: string): Record<string, unknown> {
  return parse(fs.readFileSync(path.join(REPO, 'envoy', file), 'utf8')) as Record<string, unknown>;
}

/**
 * Replaces every `port_value` by `ports` (each port the file uses must be mapped) and binds
 * listeners to loopback; nothing else of the shipped file changes.
 */
export function substitutePorts(bootstrap: unknown, ports: ReadonlyMap<number, number>): void {
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (typeof node === 'object' && node !== null) {
      const o = node as Record<string, unknown>;
      if (typeof o['port_value'] === 'number') {
        const to = ports.get(o['port_value']);
        if (to === undefined) throw new Error(`the bootstrap uses port ${o['port_value']}, which the test did not map`);
        o['port_value'] = to;
        if (o['address'] === '0.0.0.0') o['address'] = '127.0.0.1';
      }
      Object.values(o).forEach(walk);
    }
  };
  walk(bootstrap);
}

/** Every file an Envoy config reads (DataSource `filename`: certificates, keys, CAs), in document order. */
function dataSourceFiles(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((v) => dataSourceFiles(v, out));
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'filename' && typeof v === 'string') out.push(v);
      else dataSourceFiles(v, out);
    }
  }
  return out;
}

/** A file-based SDS source in an Envoy config (`sds_config.path_config_source`). */
interface PathConfigSource {
  path: string;
  watched_directory?: { path: string };
}

/** Every file-based SDS source in an Envoy config, in document order (each object itself, to change in place). */
export function sdsSources(node: unknown, out: PathConfigSource[] = []): PathConfigSource[] {
  if (Array.isArray(node)) node.forEach((v) => sdsSources(v, out));
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'path_config_source') out.push(v as PathConfigSource);
      else sdsSources(v, out);
    }
  }
  return out;
}

/** Where a deploy/envoy bootstrap's SDS file (`/etc/envoy/<name>` in the container) is in this repository. */
export const shippedSdsFile = (containerPath: string): string => path.join(REPO, 'deploy', 'envoy', path.posix.basename(containerPath));

/**
 * Every file a deploy/envoy bootstrap makes Envoy read: its SDS files, the certificate files
 * they name (read from their copies in deploy/envoy), and any DataSource `filename` of its own.
 */
export function filesEnvoyReads(bootstrap: unknown): string[] {
  const sds = sdsSources(bootstrap).map((s) => s.path);
  return [...new Set([...sds, ...sds.flatMap((f) => dataSourceFiles(parse(fs.readFileSync(shippedSdsFile(f), 'utf8')))), ...dataSourceFiles(bootstrap)])];
}

/**
 * Points a deploy/envoy bootstrap's file-based SDS at `tlsDir` instead of the mounted Secret
 * (/etc/envoy/tls): each SDS file is copied from deploy/envoy into `outDir` with its
 * /etc/envoy/tls paths (files and watched directory) replaced, and the bootstrap names the
 * copy and watches `tlsDir`.
 */
export function localSds(bootstrap: unknown, tlsDir: string, outDir: string): void {
  const replace = (value: string) => (value === SECRET_DIR || value.startsWith(`${SECRET_DIR}/`) ? path.join(tlsDir, value.slice(SECRET_DIR.length)) : value);
  for (const source of sdsSources(bootstrap)) {
    const copy = path.join(outDir, path.posix.basename(source.path));
    fs.writeFileSync(copy, JSON.stringify(mapStrings(parse(fs.readFileSync(shippedSdsFile(source.path), 'utf8')), replace)));
    source.path = copy;
    if (source.watched_directory) source.watched_directory.path = replace(source.watched_directory.path);
  }
}
const SECRET_DIR = '/etc/envoy/tls';

function mapStrings(node: unknown, f: (s: string) => string): unknown {
  if (typeof node === 'string') return f(node);
  if (Array.isArray(node)) return node.map((v) => mapStrings(v, f));
  if (typeof node === 'object' && node !== null) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, mapStrings(v, f)]));
  return node;
}

/** One Envoy process on a generated bootstrap, with its admin API on an OS-picked port. */
export class EnvoyProcess {
  readonly logs: string[] = [];
  /** Standard output alone: where the test bootstraps write access logs, never split by Envoy's own log lines. */
  readonly stdout: string[] = [];
  private child: ChildProcess | undefined;
  readonly configPath: string;

  private constructor(readonly adminPort: number, dir: string, bootstrap: object) {
    this.configPath = path.join(dir, 'envoy.yaml');
    fs.writeFileSync(this.configPath, stringify(bootstrap));
  }

  /**
   * Validates, then starts Envoy; `bootstrap.admin` is set to the returned admin port.
   * Resolves once Envoy's admin answers (clusters from xDS may still be on their way).
   */
  static async start(bootstrap: Record<string, unknown>, extraArgs: string[] = []): Promise<EnvoyProcess> {
    const adminPort = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-envoy-'));
    const withAdmin = { ...bootstrap, admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } } };
    const envoy = new EnvoyProcess(adminPort, dir, withAdmin);
    // A test's generated bootstrap is held to the same check as the shipped ones.
    const validation = validateWithEnvoy(envoy.configPath);
    if (!validation.ok) throw new Error(`envoy --mode validate refused the generated bootstrap ${envoy.configPath}:\n${validation.output}`);
    envoy.spawn(extraArgs);
    await waitFor('Envoy admin', async () => ((await envoy.admin('/ready')).status > 0 ? true : undefined), 30_000).catch(async (err: Error) => {
      await envoy.stop();
      throw new Error(`${err.message}\n${envoy.tail()}`);
    });
    return envoy;
  }

  private spawn(extraArgs: string[]): void {
    // One worker thread: the machines have two cores, shared with metaroute and the load.
    // Access-log lines are read by the tests: flush them every 50 ms, not every 10 s.
    const args = ['-c', this.configPath, '--disable-hot-restart', '--concurrency', '1', '--log-level', 'warn', '--file-flush-interval-msec', '50', ...extraArgs];
    const child = spawn(ENVOY.path!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => void this.logs.push(chunk.toString());
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      this.stdout.push(chunk.toString());
    });
    child.stderr!.on('data', keep);
    this.child = child;
  }

  async admin(route: string, method = 'GET'): Promise<{ status: number; text: string }> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}${route}`, { method });
    return { status: res.status, text: await res.text() };
  }

  /** A counter or gauge from Envoy's stats, 0 when absent. */
  async stat(name: string): Promise<number> {
    const { text } = await this.admin(`/stats?filter=${encodeURIComponent(`^${name.replace(/\./g, '\\.')}$`)}`);
    const match = /: (\d+)/.exec(text);
    return match ? Number(match[1]) : 0;
  }

  /** Error-level lines Envoy logged (warn-level logging is on). */
  errors(): string[] {
    return this.logs.join('').split('\n').filter((line) => /\]\[(error|critical)\]/.test(line));
  }

  tail(lines = 40): string {
    return `--- Envoy output (last ${lines} lines) ---\n${this.logs.join('').split('\n').slice(-lines).join('\n')}`;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
