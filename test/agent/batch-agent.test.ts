import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { BatchAgent } from '../../src/agent/batch-agent';
import { runAgentArgs, type AgentCliDeps } from '../../src/cli/agent';
import { parseInstance } from '../../src/registry/instance-input';
import { api, startApp, until } from '../support/app';
import { freePort } from '../support/envoy';

const listed = async (admin: string) => ((await api(admin, 'GET', '/v1/instances?service=pods')).json.instances as { id: string }[]).map((i) => i.id).sort();

/** What runAgentArgs is given in process: its log lines, its signal handlers, and its exit code once it exits. */
function agentDeps(): { logs: string[]; handlers: Map<string, () => void>; exited: Promise<number>; deps: AgentCliDeps } {
  const logs: string[] = [];
  const handlers = new Map<string, () => void>();
  let exit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  return { logs, handlers, exited, deps: { env: {}, log: (_event, message) => logs.push(message), onSignal: (signal, handler) => handlers.set(signal, handler), exit } };
}

describe('metaroute agent --file (batch form, in process, real server)', () => {
  it('registers every instance of the file by batch, keeps them alive with batched heartbeats past their TTL, re-registers one deleted behind its back, and deregisters all on SIGTERM', async () => {
    const env = await startApp();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-batch-agent-'));
    const file = path.join(dir, 'instances.json');
    const count = 2500; // more than one registration call (2,000 per call)
    fs.writeFileSync(file, JSON.stringify(Array.from({ length: count }, (_, i) => ({ service: 'pods', host: '10.3.0.1', port: 1000 + i, metadata: { user: `u${i}` } }))));
    const { logs, handlers, exited, deps } = agentDeps();
    try {
      expect(await runAgentArgs(['--file', file, '--admin', env.admin, '--ttl', '1'], deps)).toBe(0);
      expect((await listed(env.admin)).length).toBe(count);
      // Deleted behind the agent's back: the next heartbeat round reports it unknown and the agent registers it again.
      expect((await api(env.admin, 'DELETE', '/v1/instances/default/pods/10.3.0.1:1000')).status).toBe(200);
      await until(async () => (await listed(env.admin)).includes('10.3.0.1:1000'), 'the agent to register the deleted instance again');
      // Three TTLs later every instance is still there: one heartbeat call per round kept them all.
      await new Promise((r) => setTimeout(r, 3000));
      expect((await listed(env.admin)).length).toBe(count);
      expect(logs.some((l) => l.includes('no longer knows 1 instance(s)'))).toBe(true);

      handlers.get('SIGTERM')!();
      expect(await exited).toBe(0);
      expect(await listed(env.admin)).toEqual([]);
      expect(logs.at(-1)).toBe(`deregistered ${count} instance(s)`);
    } finally {
      await env.app.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30000);

  it('says how many instances its stop deregistered, and how many the server no longer knew', async () => {
    const env = await startApp();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-batch-agent-'));
    const file = path.join(dir, 'instances.json');
    fs.writeFileSync(file, JSON.stringify([1, 2, 3].map((port) => ({ service: 'pods', host: '10.3.0.1', port }))));
    const { logs, handlers, exited, deps } = agentDeps();
    try {
      expect(await runAgentArgs(['--file', file, '--admin', env.admin, '--ttl', '60'], deps)).toBe(0);
      await api(env.admin, 'POST', '/v1/instances/batch', { deregister: [{ service: 'pods', id: '10.3.0.1:1' }, { service: 'pods', id: '10.3.0.1:2' }] });
      handlers.get('SIGTERM')!();
      expect(await exited).toBe(0);
      expect(logs.at(-1)).toBe('deregistered 1 instance(s); 2 the server no longer knew');
    } finally {
      await env.app.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up at once on an answer a retry cannot change (403 here), as a single registration does', async () => {
    const token = 'user-a-0123456789abcdef';
    const env = await startApp({ auth: { requireAdminAuth: 'auto', tokens: [{ token, services: ['pods'], labels: { user: ['A'] }, optionalLabels: {}, addresses: [], maxInstances: undefined, admin: false }] } });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-batch-agent-'));
    const file = path.join(dir, 'instances.json');
    fs.writeFileSync(file, JSON.stringify([{ service: 'pods', host: '10.3.0.1', port: 1, metadata: { user: 'B' } }]));
    const logs: string[] = [];
    const deps: AgentCliDeps = { env: { METAROUTE_TOKEN: token }, log: (event, message) => logs.push(`${event} ${message}`), onSignal: () => undefined, exit: () => undefined };
    try {
      const started = Date.now();
      expect(await runAgentArgs(['--file', file, '--admin', env.admin], deps)).toBe(1);
      expect(logs.filter((l) => !l.startsWith('agent.metadata'))).toEqual([expect.stringMatching(/^agent\.failed giving up: .*answered 403: register\[0\]: token may not register user=B/)]);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await env.app.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('withdraws the batches registered before one is refused: none is left without heartbeats', async () => {
    const token = 'pods-only-0123456789abcdef';
    const env = await startApp({ auth: { requireAdminAuth: 'auto', tokens: [{ token, services: ['pods'], labels: {}, optionalLabels: { '*': ['*'] }, addresses: [], maxInstances: undefined, admin: false }] } });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-batch-agent-'));
    const file = path.join(dir, 'instances.json');
    // The first call (2,000 entries) is the token's to register; the second names a service it is not.
    const entries = Array.from({ length: 2001 }, (_, i) => ({ service: i < 2000 ? 'pods' : 'other', host: '10.3.0.1', port: 1000 + i }));
    fs.writeFileSync(file, JSON.stringify(entries));
    const logs: string[] = [];
    const deps: AgentCliDeps = { env: { METAROUTE_TOKEN: token }, log: (event, message) => logs.push(`${event} ${message}`), onSignal: () => undefined, exit: () => undefined };
    try {
      expect(await runAgentArgs(['--file', file, '--admin', env.admin], deps)).toBe(1);
      expect(logs.some((l) => /^agent\.failed giving up: .*403: register\[0\]: token may not register service default\/other/.test(l))).toBe(true);
      expect(await listed(env.admin)).toEqual([]);
      expect(logs).toContain('agent.registration.withdrawn withdrew 2000 instance(s)');
    } finally {
      await env.app.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("retries a failed batch registration on a single registration's schedule (250 ms doubling), not 1 s, 2 s, 3 s ...", async () => {
    const port = await freePort(); // nothing listens: ECONNREFUSED, which a retry may get past
    const parsed = parseInstance({ service: 'pods', host: '10.3.0.2', port: 1 }, { ttlSeconds: 15 });
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    const logs: string[] = [];
    const agent = new BatchAgent({ admin: `http://127.0.0.1:${port}`, instances: [parsed.instance], ttlSeconds: 15, log: (_event, message) => logs.push(message), registerAttempts: 3 });
    const started = Date.now();
    await expect(agent.start()).rejects.toThrow('ECONNREFUSED');
    const waits = logs.map((line) => Number(/; attempt \d\/3, retrying in (\d+) ms$/.exec(line)?.[1]));
    expect(waits).toHaveLength(2);
    expect([waits[0]! >= 125 && waits[0]! <= 250, waits[1]! >= 250 && waits[1]! <= 500]).toEqual([true, true]);
    expect(Date.now() - started).toBeLessThan(2500); // it waited 1 s, then 2 s
  });

  it('refuses a file with a bad entry before any network call, naming the entry and field', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-batch-agent-'));
    const file = path.join(dir, 'instances.json');
    fs.writeFileSync(file, JSON.stringify([{ service: 'pods', host: '10.3.0.1', port: 1 }, { service: 'pods', host: '10.3.0.1', port: 0 }]));
    const deps: AgentCliDeps = { env: {}, log: () => undefined, onSignal: () => undefined, exit: () => undefined };
    const errors: string[] = [];
    expect(await runAgentArgs(['--file', file, '--admin', 'http://127.0.0.1:1'], deps, { out: () => undefined, err: (text) => errors.push(text) })).toBe(1);
    expect(errors.join('')).toContain(`invalid registration: ${file}[1].port: must be an integer 1-65535, got 0`);
    // An instance, or an address, twice in the file: the server would refuse the batch with its index in one call.
    for (const [entries, message] of [
      [[{ service: 'pods', host: '10.3.0.1', port: 1 }, { service: 'pods', host: '10.3.0.2', port: 1, id: '10.3.0.1:1' }], `${file}[1]: the same instance as ${file}[0]`],
      [[{ service: 'pods', host: '10.3.0.1', port: 1 }, { service: 'pods', host: '10.3.0.2', port: 2 }, { service: 'pods', host: '10.3.0.1', port: 1, id: 'b' }], `${file}[2].port: 10.3.0.1:1 is the address of ${file}[0] (id 10.3.0.1:1) in the same service; an address holds one instance`],
    ] as const) {
      fs.writeFileSync(file, JSON.stringify(entries));
      errors.length = 0;
      expect(await runAgentArgs(['--file', file, '--admin', 'http://127.0.0.1:1'], deps, { out: () => undefined, err: (text) => errors.push(text) })).toBe(1);
      expect(errors.join('')).toContain(`invalid registration: ${message}`);
    }
    // A file that cannot be read, or is no JSON, is named in one line, without a stack trace.
    for (const [argv, message] of [
      [['--file', path.join(dir, 'none.json')], `metaroute agent: cannot read --file ${path.join(dir, 'none.json')}: ENOENT`],
      [['--file', (fs.writeFileSync(file, '[{'), file)], `metaroute agent: ${file}: not JSON: `],
    ] as const) {
      errors.length = 0;
      expect(await runAgentArgs([...argv], deps, { out: () => undefined, err: (text) => errors.push(text) })).toBe(1);
      expect(errors.join('').split('\n')).toEqual([expect.stringContaining(message), '']);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('metaroute agent --file stopped while its registration is on its way', () => {
  /** An admin API that applies a batch registration as it answers it, `delayMs` later, and a deregistration at once. */
  async function slowServer(delayMs: number, failFirst = false) {
    const registered = new Set<string>();
    const calls: string[] = [];
    let registrations = 0;
    const server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        const body = JSON.parse(text) as { register?: { id: string }[]; deregister?: { id: string }[] };
        if (body.register) {
          calls.push('register');
          if (failFirst && registrations++ === 0) return void res.writeHead(503).end('{"error":"starting"}');
          setTimeout(() => {
            for (const i of body.register!) registered.add(i.id);
            res.end(JSON.stringify({ registered: body.register!.length, deregistered: 0, missing: [] }));
          }, delayMs);
        } else {
          calls.push('deregister');
          const deregistered = body.deregister!.filter((r) => registered.delete(r.id)).length;
          res.end(JSON.stringify({ registered: 0, deregistered, missing: [] }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { admin: `http://127.0.0.1:${(server.address() as { port: number }).port}`, registered, calls, close: () => new Promise((r) => server.close(r)) };
  }

  const instance = () => {
    const parsed = parseInstance({ service: 'pods', host: '10.3.0.3', port: 1, id: 'a' }, { ttlSeconds: 15 });
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    return parsed.instance;
  };

  it('deregisters after the registration lands, not before it (which left the instances registered)', async () => {
    const server = await slowServer(300);
    const logs: string[] = [];
    const agent = new BatchAgent({ admin: server.admin, instances: [instance()], ttlSeconds: 15, log: (_event, message) => logs.push(message) });
    try {
      const started = agent.start().catch((error: Error) => error);
      await until(() => server.calls.length === 1, 'the registration to reach the server', 2000);
      await agent.stop();
      await started;
      expect(server.calls).toEqual(['register', 'deregister']);
      expect([...server.registered]).toEqual([]);
      expect(logs.at(-1)).toBe('deregistered 1 instance(s)');
    } finally {
      await server.close();
    }
  });

  it('does not register again after a stop that came while it waited to retry', async () => {
    const server = await slowServer(0, true);
    const logs: string[] = [];
    const agent = new BatchAgent({ admin: server.admin, instances: [instance()], ttlSeconds: 15, log: (_event, message) => logs.push(message) });
    try {
      const started = agent.start().catch((error: Error) => error);
      await until(() => logs.some((l) => l.includes('retrying in')), 'the first try to fail', 2000);
      await agent.stop();
      expect(((await started) as Error).message).toBe('stopped before the instances were registered');
      await new Promise((r) => setTimeout(r, 300)); // past the longest first wait (250 ms)
      expect([server.calls, [...server.registered]]).toEqual([['register', 'deregister'], []]);
    } finally {
      await server.close();
    }
  });
});
