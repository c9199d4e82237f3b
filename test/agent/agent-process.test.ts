import { spawn } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { api, startApp, until } from '../support/app';
import { sharedCli } from '../support/transpile';

describe('metaroute agent as a real process', () => {
  it('registers with merged metadata, logs it once, and on SIGTERM deregisters and exits 0', async () => {
    const main = sharedCli();
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
      const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; time: string; event: string; msg: string });
      expect(lines.every((l) => l.level === 'info' && !Number.isNaN(Date.parse(l.time)))).toBe(true);
      expect(lines.map((l) => l.event)).toEqual(['agent.metadata', 'agent.registered', 'agent.stopping', 'agent.deregistered']);
      expect(lines.find((l) => l.event === 'agent.deregistered')!.msg).toBe('deregistered default/aigc/10.2.0.9:7001'); // the id as registered, not URL-encoded
      expect(lines.filter((l) => l.msg.startsWith('Loaded static metadata info: ')).map((l) => l.msg)).toEqual(['Loaded static metadata info: {"user":"A","zone":"z1"}']);
      expect(lines.map((l) => l.msg)).toContain('SIGTERM: deregistering');
    } finally {
      child.kill('SIGKILL');
      await env.app.stop();
    }
  });

  it('refuses a bad metadata source as a bad flag: one line and the usage, exit 2, no stack trace', async () => {
    const child = spawn(process.execPath, [sharedCli(), 'agent', '--service', 'aigc', '--host', '10.2.0.9', '--port', '7001', '--transitive', 'env'], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))).toBe(2);
    expect(stderr).toMatch(/^metaroute agent: transitive keys without a value: env \(.*\)\n\nusage: metaroute agent /);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('logs trouble it rides out as warn and giving up as error, and exits 1', async () => {
    const main = sharedCli();
    // A server that refuses the registration once it is reachable: one 503 (retried), then 400 (not).
    let calls = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(calls++ === 0 ? 503 : 400, { 'content-type': 'application/json' }).end('{"error":"no"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const admin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const child = spawn(process.execPath, [main, 'agent', '--admin', admin, '--service', 'aigc', '--host', '10.2.0.9', '--port', '7001'], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      expect(await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))).toBe(1);
      const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; event: string });
      expect(lines.map((l) => [l.event, l.level])).toEqual([['agent.metadata', 'info'], ['agent.registration.retry', 'warn'], ['agent.failed', 'error']]);
    } finally {
      server.close();
    }
  });
});
