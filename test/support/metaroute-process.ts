import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { freePort, REPO, StopWaiting, waitFor } from './envoy';
import { sharedCli } from './transpile';

export interface MetaroutePorts {
  readonly extProc: number;
  readonly xds: number;
  readonly admin: number;
}

/**
 * `metaroute serve` as its own process (the run's transpiled CLI, `sharedCli()`), as Envoy meets
 * it in production: its event loop serves only ext_proc, xDS and admin, not the test's load.
 */
export class MetarouteProcess {
  readonly logs: string[] = [];
  private child: ChildProcess | undefined;
  private stderr: Readable | undefined;

  private constructor(readonly ports: MetaroutePorts, readonly dir: string, private readonly configPath: string, private readonly env: NodeJS.ProcessEnv) {}

  get admin(): string {
    return `http://127.0.0.1:${this.ports.admin}`;
  }

  /** `config` is merged over loopback ports picked now and a fresh data directory. */
  static async start(config: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): Promise<MetarouteProcess> {
    const ports = { extProc: await freePort(), xds: await freePort(), admin: await freePort() };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-proc-'));
    const configPath = path.join(dir, 'metaroute.yaml');
    fs.writeFileSync(configPath, stringify({ host: '127.0.0.1', ports, dataDir: path.join(dir, 'data'), ...config }));
    const process_ = new MetarouteProcess(ports, dir, configPath, env);
    await process_.spawn();
    return process_;
  }

  /** (Re)starts the process on the same config, ports and data directory; resolves when admin answers. */
  async spawn(): Promise<void> {
    const args = [sharedCli(), 'serve', '--config', this.configPath];
    const child = spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => void this.logs.push(chunk.toString());
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.child = child;
    this.stderr = child.stderr!;
    await waitFor('metaroute admin API', async () => {
      if (child.exitCode !== null) throw new StopWaiting(`metaroute exited with ${child.exitCode}: ${this.logs.join('')}`);
      return (await fetch(`${this.admin}/healthz`)).ok ? true : undefined;
    }, 90_000).catch(async (err: Error) => { // generous: a start (store, warm-up) on a loaded 2-core machine can take seconds
      await this.stop();
      throw err;
    });
  }

  /** Stops reading the process's stderr, as a log collector that fell behind would: the pipe fills. */
  pauseLogs(): void {
    this.stderr?.pause();
  }

  resumeLogs(): void {
    this.stderr?.resume();
  }

  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT ...) without waiting. */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Resolves when the process has exited (after a signal). */
  async exited(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((r) => child.once('exit', r));
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited();
    clearTimeout(timer);
  }
}
