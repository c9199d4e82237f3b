import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, type AgentOptions } from '../../src/agent/agent';
import type { App } from '../../src/app/app';
import { runAgentArgs, type AgentCliDeps } from '../../src/cli/agent';
import { api, startApp, until } from '../support/app';

interface Env {
  app: App;
  admin: string;
}

const registration = { service: 'shop', namespace: 'default', host: '10.0.0.7', port: 8080, metadata: { user: 'A' } };

async function instances(admin: string, service = 'shop'): Promise<Array<{ id: string; metadata: Record<string, string>; ttlSeconds: number }>> {
  return (await api(admin, 'GET', `/v1/instances?service=${service}`)).json.instances;
}

function agentFor(admin: string, overrides: Partial<AgentOptions> = {}): { agent: Agent; logs: string[] } {
  const logs: string[] = [];
  const agent = new Agent({ admin, registration, ttlSeconds: 1, log: (_event, message) => logs.push(message), ...overrides });
  return { agent, logs };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('Agent against the real admin API', () => {
  let env: Env;
  const running: Agent[] = [];
  beforeEach(async () => {
    env = await startApp();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((a) => a.stop()));
    await env.app.stop();
  });

  it('registers ephemerally, heartbeats past the TTL, and deregisters on stop', async () => {
    const { agent, logs } = agentFor(env.admin);
    running.push(agent);
    await agent.start();
    expect(agent.instanceId).toBe('10.0.0.7:8080');
    expect(await instances(env.admin)).toEqual([expect.objectContaining({ id: '10.0.0.7:8080', metadata: { user: 'A' }, ttlSeconds: 1, ephemeral: true })]);

    // Control: the same TTL without heartbeats expires within the wait below.
    await api(env.admin, 'POST', '/v1/instances', { service: 'lonely', host: '10.0.0.8', port: 1, ttlSeconds: 1 });
    await until(async () => (await instances(env.admin, 'lonely')).length === 0, 'the un-heartbeated instance to expire', 4000);
    await sleep(1500);
    expect((await instances(env.admin)).map((i) => i.id)).toEqual(['10.0.0.7:8080']);

    await agent.stop();
    expect(await instances(env.admin)).toEqual([]);
    expect(logs).toContain('deregistered default/shop/10.0.0.7:8080');
  });

  it('registers again when a heartbeat answers 404', async () => {
    const { agent, logs } = agentFor(env.admin, { registration: { ...registration, id: 'pod-1' } });
    running.push(agent);
    await agent.start();
    expect((await api(env.admin, 'DELETE', '/v1/instances/default/shop/pod-1')).status).toBe(200);
    await until(() => logs.some((l) => l.startsWith('registered again as pod-1')), 'the agent to register again', 3000);
    expect((await instances(env.admin)).map((i) => i.id)).toEqual(['pod-1']);
  });

  it('fails start() at once when the server refuses the registration', async () => {
    const { agent } = agentFor(env.admin, { registration: { ...registration, port: 0 } });
    await expect(agent.start()).rejects.toThrow(/registration refused \(400\): invalid instance; port: must be an integer 1-65535, got 0/);
  });
});

describe('Agent on a container reused for another user', () => {
  it("retries a 409 (the address still held by the last user's instance, which its token may not displace) until that one expires", async () => {
    const scope = { services: ['shop'], optionalLabels: {}, addresses: [], maxInstances: undefined, admin: false };
    const env = await startApp({ auth: { requireAdminAuth: 'auto', tokens: [{ ...scope, token: 'user-a-0123456789abcdef', labels: { user: ['A'] } }, { ...scope, token: 'user-b-0123456789abcdef', labels: { user: ['B'] } }] } });
    const { agent, logs } = agentFor(env.admin, { token: 'user-b-0123456789abcdef', registration: { ...registration, id: 'pod-b', metadata: { user: 'B' } }, ttlSeconds: 3 });
    try {
      // User A's container at this address died without deregistering: its record lives out its 2 s TTL.
      const previous = await fetch(`${env.admin}/v1/instances`, { method: 'POST', headers: { authorization: 'Bearer user-a-0123456789abcdef' }, body: JSON.stringify({ ...registration, id: 'pod-a', ttlSeconds: 2 }) });
      expect(previous.status).toBe(200);
      await agent.start();
      expect(logs.some((l) => l.includes('(409): address 10.0.0.7:8080 is held by instance pod-a (user=A)'))).toBe(true);
      expect(env.app.registry.snapshot().services.get('default/shop')!.instances.map((i) => i.id)).toEqual(['pod-b']);
    } finally {
      await agent.stop();
      await env.app.stop();
    }
  }, 20_000);
});

describe('Agent retries', () => {
  it('keeps trying with backoff until the admin API comes up', async () => {
    const port = await freePort();
    const { agent, logs } = agentFor(`http://127.0.0.1:${port}`, { ttlSeconds: 3 });
    const started = agent.start();
    await until(() => logs.filter((l) => l.startsWith(`registration at http://127.0.0.1:${port} failed (ECONNREFUSED)`)).length >= 2, 'two failed attempts', 5000);
    const env = await startApp({ ports: { extProc: 0, xds: 0, admin: port } });
    try {
      await started;
      expect((await instances(env.admin)).map((i) => i.id)).toEqual(['10.0.0.7:8080']);
    } finally {
      await agent.stop();
      await env.app.stop();
    }
  });

  it('gives up after the bounded number of attempts', async () => {
    const port = await freePort();
    const { agent, logs } = agentFor(`http://127.0.0.1:${port}`, { registerAttempts: 3 });
    await expect(agent.start()).rejects.toThrow(`cannot reach http://127.0.0.1:${port}/v1/instances: ECONNREFUSED`);
    expect(logs.filter((l) => l.startsWith(`registration at http://127.0.0.1:${port} failed (ECONNREFUSED)`))).toHaveLength(2);
  });

  it('survives an admin outage: heartbeats fail, then it registers again on the restarted server', async () => {
    let env = await startApp();
    const port = env.app.ports.admin;
    const { agent, logs } = agentFor(env.admin);
    try {
      await agent.start();
      // A fresh data directory: the restarted server has forgotten the instance.
      await env.app.stop();
      await until(() => logs.some((l) => /^heartbeat to http:\/\/127\.0\.0\.1:\d+ failed/.test(l)), 'a failed heartbeat', 3000);
      env = await startApp({ ports: { extProc: 0, xds: 0, admin: port } });
      await until(async () => (await instances(env.admin)).length === 1, 'the instance back on the restarted server', 5000);
      expect(logs.some((l) => l.startsWith('heartbeat ok after'))).toBe(true);
    } finally {
      await agent.stop();
      await env.app.stop();
    }
  });
});

describe('metaroute agent CLI (in process)', () => {
  it('merges the metadata sources, logs them once, and deregisters then exits 0 on SIGTERM', async () => {
    const env = await startApp();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-agent-cli-'));
    const file = path.join(tmp, 'metadata.env');
    fs.writeFileSync(file, '# from the image\nzone=file\nenv=file\n');
    const provider = path.join(tmp, 'provider.js');
    fs.writeFileSync(provider, 'module.exports = { getMetadata: async () => ({ env: "provider" }) };');
    const logs: string[] = [];
    const handlers = new Map<string, () => void>();
    const exited = new Promise<number>((resolve) => {
      const deps: AgentCliDeps = {
        env: { METAROUTE_METADATA_CONTENT_ZONE: 'env', METAROUTE_METADATA_CONTENT_TRANSITIVE: 'user' },
        log: (_event, message) => logs.push(message),
        onSignal: (signal, handler) => handlers.set(signal, handler),
        exit: resolve,
      };
      const argv = ['--admin', env.admin, '--service', 'aigc', '--host', '10.1.0.5', '--port', '7000', '--ttl', '2', '--label', 'user=A', '--label', 'zone=config', '--metadata-file', file, '--provider', provider];
      void runAgentArgs(argv, deps).then((code) => expect(code).toBe(0));
    });
    try {
      await until(async () => (await instances(env.admin, 'aigc')).length === 1, 'the CLI agent to register');
      const expected = { env: 'provider', 'metaroute.transitive': 'user', user: 'A', zone: 'env' };
      expect((await instances(env.admin, 'aigc'))[0]!.metadata).toEqual(expected);
      expect(logs.filter((l) => l.startsWith('Loaded static metadata info: '))).toEqual([`Loaded static metadata info: ${JSON.stringify(expected)}`]);

      handlers.get('SIGTERM')!();
      expect(await exited).toBe(0);
      expect(await instances(env.admin, 'aigc')).toEqual([]);
    } finally {
      await env.app.stop();
    }
  });

  it('rejects bad flags with usage and exit status 2 before any network call', async () => {
    const deps: AgentCliDeps = { env: {}, log: () => undefined, onSignal: () => undefined, exit: () => undefined };
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-agent-flags-'));
    const noEquals = path.join(tmp, 'metadata.env');
    fs.writeFileSync(noEquals, 'env=dev1\nbogus\n');
    const missing = path.join(tmp, 'none');
    const run = async (argv: string[]) => {
      let err = '';
      const code = await runAgentArgs(argv, deps, { out: () => undefined, err: (t) => void (err += t) });
      return { code, err };
    };
    const cases: Array<[string[], string | RegExp]> = [
      [['--host', '1.2.3.4', '--port', '80'], '--service is required'],
      [['--service', 's', '--host', '1.2.3.4', '--port', 'eighty'], '--port must be a number, got eighty'],
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--ttl', '0'], /invalid registration: ttlSeconds/],
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--ttl', '0.5'], 'invalid registration: ttlSeconds: must be a number of seconds from 1 to 86400 (expiry runs once a second), got 0.5'],
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--token', 'a', '--token-file', 'b'], 'not both'],
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--colour', 'red'], "Unknown option '--colour'"],
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', 'stray'], 'Unexpected argument'],
      [['--service', 's', '--host', '0.0.0.0', '--port', '80'], "invalid registration: host: \"0.0.0.0\" is an unspecified address (a proxy connecting to it reaches only its own host); give the instance's reachable address (127.0.0.1 for one on the proxy's host)"],
      [['--service', 's', '--host', '1.2.3.4', '--port', '70000'], 'invalid registration: port: must be an integer 1-65535, got 70000'],
      // The metadata sources' errors, each named as a bad flag is.
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--transitive', 'env'], 'transitive keys without a value: env (no --label, --metadata-file'],
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--metadata-file', noEquals], `${noEquals}:2: expected key=value, got "bogus"`],
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--label', '_x=1'], '--label: invalid metadata key "_x"'],
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--label', 'env=a', '--label', 'env=b'], '--label env given twice'],
    ];
    for (const [argv, message] of cases) {
      const { code, err } = await run(argv);
      expect({ argv, code }).toEqual({ argv, code: 2 });
      // One line naming what is wrong (no stack trace), then the usage.
      const [first, blank] = err.split('\n');
      expect([first, blank]).toEqual([expect.stringMatching(/^metaroute agent: /), '']);
      expect(first).toEqual(typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message));
      expect(err).toContain('usage: metaroute agent');
    }
    // A source that cannot be read or run is the agent's failure, not a bad flag: exit 1, one line, no usage.
    for (const [argv, message] of [
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--metadata-file', missing], `cannot read --metadata-file ${missing}: ENOENT`],
      [['--service', 's', '--host', '1.2.3.4', '--port', '80', '--provider', missing], `provider ${missing}: cannot load it: Cannot find module`],
    ] as Array<[string[], string]>) {
      const { code, err } = await run(argv);
      expect({ argv, code }).toEqual({ argv, code: 1 });
      expect(err.trim().split('\n')).toEqual([expect.stringContaining(message)]);
    }
  });
});
