import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { until } from '../support/app';
import { transpileCli } from '../support/transpile';

/**
 * `npm start` must hand the server glibc's malloc settings (docs/PERFORMANCE.md, "A push's copy
 * in memory malloc keeps"), as deploy/Dockerfile does: glibc reads them when the process starts,
 * so they must be in node's environment, not set from inside it. Runs package.json's own `start`
 * script (`--ignore-scripts` skips `prestart`'s build: the CLI is transpiled beside it) and reads
 * the server's environment from /proc.
 */
describe('npm start', () => {
  let bin: ReturnType<typeof transpileCli>;
  const children: ChildProcess[] = [];
  beforeAll(() => (bin = transpileCli()));
  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    bin.cleanup();
  });

  /** Starts `npm start` in the transpiled folder; resolves to the server process's environment once it serves. */
  async function serverEnvironment(extra: NodeJS.ProcessEnv): Promise<Map<string, string>> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-npm-start-'));
    const npm = spawn('npm', ['start', '--ignore-scripts'], {
      cwd: path.resolve(path.dirname(bin.main), '..', '..'),
      env: { PATH: process.env.PATH, HOME: process.env.HOME, METAROUTE_EXTPROC_PORT: '0', METAROUTE_XDS_PORT: '0', METAROUTE_ADMIN_PORT: '0', METAROUTE_DATA_DIR: dataDir, ...extra },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    children.push(npm);
    let stderr = '';
    npm.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await until(() => stderr.includes('"event":"serving"') || npm.exitCode !== null, `the server to serve; stderr:\n${stderr}`, 30_000);
    expect(npm.exitCode).toBeNull();
    // The server is the process running dist/cli/main.js (an argument of its own: not the shell npm ran it with) whose environment names this data directory.
    const server = fs.readdirSync('/proc').filter((pid) => /^\d+$/.test(pid)).find((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('dist/cli/main.js') && fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`METAROUTE_DATA_DIR=${dataDir}`);
      } catch {
        return false; // gone, or not ours to read
      }
    });
    expect(server).toBeDefined();
    const environ = fs.readFileSync(`/proc/${server}/environ`, 'utf8').split('\0').filter(Boolean);
    process.kill(-npm.pid!, 'SIGTERM');
    await new Promise((resolve) => (npm.exitCode === null && npm.signalCode === null ? npm.on('exit', resolve) : resolve(undefined)));
    return new Map(environ.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  }

  it("sets glibc's malloc thresholds in the server's environment, as the image does", async () => {
    const env = await serverEnvironment({});
    expect([env.get('MALLOC_MMAP_THRESHOLD_'), env.get('MALLOC_TRIM_THRESHOLD_')]).toEqual(['33554432', '67108864']);
  }, 60_000);

  it("keeps an operator's own values", async () => {
    const env = await serverEnvironment({ MALLOC_MMAP_THRESHOLD_: '16777216', MALLOC_TRIM_THRESHOLD_: '33554432' });
    expect([env.get('MALLOC_MMAP_THRESHOLD_'), env.get('MALLOC_TRIM_THRESHOLD_')]).toEqual(['16777216', '33554432']);
  }, 60_000);
});
