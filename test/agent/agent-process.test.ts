import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import { api, startApp, until } from '../support/app';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Transpiles src/ (per file, no type check) into a temporary dist/ laid out like the real
 * build, so the test runs the actual `metaroute` entry point without depending on `npm run
 * build` or on the state of dist/.
 */
function transpileCli(): { main: string; cleanup(): void } {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-agent-bin-'));
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  for (const file of walk(path.join(ROOT, 'src'))) {
    const js = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, resolveJsonModule: true },
      fileName: file,
    }).outputText;
    const target = path.join(out, 'dist', path.relative(path.join(ROOT, 'src'), file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, js);
  }
  // Module resolution and the proto loader look beside dist/, as in the repository.
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'));
  fs.symlinkSync(path.join(ROOT, 'protos'), path.join(out, 'protos'));
  return {
    main: path.join(out, 'dist', 'cli', 'main.js'),
    cleanup: () => {
      // Unlink the symlinks first so removing the tree can never reach the repository.
      for (const link of ['node_modules', 'protos']) fs.unlinkSync(path.join(out, link));
      fs.rmSync(out, { recursive: true, force: true });
    },
  };
}

describe('metaroute agent as a real process', () => {
  it('registers with merged metadata, logs it once, and on SIGTERM deregisters and exits 0', async () => {
    const { main, cleanup } = transpileCli();
    const env = await startApp();
    const child = spawn(process.execPath, [main, 'agent', '--admin', env.admin, '--service', 'aigc', '--host', '10.2.0.9', '--port', '7001', '--ttl', '1', '--label', 'user=config'], {
      env: { PATH: process.env.PATH, METAROUTE_METADATA_CONTENT_USER: 'A', METAROUTE_METADATA_CONTENT_ZONE: 'z1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const listed = async () => (await api(env.admin, 'GET', '/v1/instances?service=aigc')).json.instances as Array<{ metadata: Record<string, string> }>;
      await until(async () => (await listed()).length === 1, `the agent to register; its stderr:\n${stderr}`, 10000);
      expect((await listed())[0]!.metadata).toEqual({ user: 'A', zone: 'z1' });
      // Past the 1 s TTL: heartbeats keep it.
      await new Promise((r) => setTimeout(r, 2500));
      expect(await listed()).toHaveLength(1);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(await listed()).toEqual([]);
      // JSON log lines (pino): one per event, with level and time.
      const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; time: string; msg: string });
      expect(lines.every((l) => l.level === 'info' && !Number.isNaN(Date.parse(l.time)))).toBe(true);
      expect(lines.filter((l) => l.msg.startsWith('Loaded static metadata info: ')).map((l) => l.msg)).toEqual(['Loaded static metadata info: {"user":"A","zone":"z1"}']);
      expect(lines.map((l) => l.msg)).toContain('SIGTERM: deregistering');
    } finally {
      child.kill('SIGKILL');
      await env.app.stop();
      cleanup();
    }
  });
});
