import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { App } from '../../src/app/app';
import { runAgentArgs, type AgentCliDeps } from '../../src/cli/agent';
import { startApp } from '../support/app';
import { makeTestPki, OPENSSL, type TestPki } from '../support/certificates';
import { describeWith } from '../support/requires';
import { sharedCli } from '../support/transpile';

/**
 * The CLI and the agents against an admin API with mutual TLS (admin.tls.clientCaFile), with
 * certificates made by openssl at test time: without a client certificate they say that one is
 * required; with --client-cert and --client-key (or their environment variables) they get through.
 */

type Result = { code: number; stdout: string; stderr: string };

/** The instances of `service` as the admin API lists them, asked with the operator's certificate. */
function listed(base: string, pki: TestPki, client: { cert: string; key: string }, service: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const options = { ca: fs.readFileSync(pki.ca), cert: fs.readFileSync(client.cert), key: fs.readFileSync(client.key), agent: false };
    https
      .get(`${base}/v1/instances?service=${service}`, options, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve((JSON.parse(body) as { instances: Array<{ id: string }> }).instances.map((i) => i.id).sort()));
      })
      .on('error', reject);
  });
}

/** The in-process agent CLI: its log lines (event: message), its signal handlers and its exit. */
function agentDeps(env: NodeJS.ProcessEnv = {}): { deps: AgentCliDeps; logs: string[]; signal(name: 'SIGTERM'): void; exited: Promise<number> } {
  const logs: string[] = [];
  const handlers = new Map<string, () => void>();
  let exit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const deps: AgentCliDeps = { env, log: (event, message) => logs.push(`${event}: ${message}`), onSignal: (signal, handler) => handlers.set(signal, handler), exit };
  return { deps, logs, signal: (name) => handlers.get(name)!(), exited };
}

describeWith(OPENSSL, 'admin API callers with a client certificate (admin.tls.clientCaFile)', () => {
  let pki: TestPki;
  let operator: { cert: string; key: string };
  let app: App;
  let base: string;
  beforeAll(async () => {
    pki = makeTestPki();
    operator = pki.client('operator');
    app = (await startApp({ admin: { tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.ca, reloadSeconds: 60 } } })).app;
    base = `https://127.0.0.1:${app.ports.admin}`;
  });
  afterAll(async () => {
    await app?.stop();
  });

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> =>
    promisify(execFile)(process.execPath, [sharedCli(), ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 20_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (e: Result) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  const explain = ['explain', '--authority', 'shop.default'];
  // An unknown service is exit 1 with the server's answer: the call went through TLS and past the client check.
  const wentThrough = { code: 1, stderr: expect.stringContaining('no registered service matches "shop.default"') };

  test('the CLI without a client certificate is told one is required; with --client-cert and --client-key (or the environment) it gets through', async () => {
    const without = await cli([...explain, '--admin', base], { NODE_EXTRA_CA_CERTS: pki.ca });
    expect(without).toMatchObject({ code: 1 });
    expect(without.stderr).toContain(
      `metaroute explain: cannot reach ${base}/explain: the server requires a client certificate (admin.tls.clientCaFile): pass --client-cert and --client-key`,
    );

    expect(await cli([...explain, '--admin', base, '--client-cert', operator.cert, '--client-key', operator.key], { NODE_EXTRA_CA_CERTS: pki.ca })).toMatchObject(wentThrough);
    // The environment instead of flags, and --ca instead of NODE_EXTRA_CA_CERTS; analyze too.
    const env = { METAROUTE_ADMIN_CLIENT_CERT: operator.cert, METAROUTE_ADMIN_CLIENT_KEY: operator.key, METAROUTE_ADMIN_CA: pki.ca };
    expect(await cli([...explain, '--admin', base], env)).toMatchObject(wentThrough);
    expect(await cli(['analyze', '--admin', base, '--ca', pki.ca], { METAROUTE_ADMIN_CLIENT_CERT: operator.cert, METAROUTE_ADMIN_CLIENT_KEY: operator.key })).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('0 error(s), 0 warning(s) against 0 instance(s)'),
    });
  });

  test('a certificate another CA signed, or a server CA not given, is named in the error', async () => {
    const stranger = await cli([...explain, '--admin', base, '--ca', pki.ca, '--client-cert', pki.stranger.cert, '--client-key', pki.stranger.key]);
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain(`it did not accept ${pki.stranger.cert} (signed by another CA than its admin.tls.clientCaFile, expired, or not for client authentication)`);

    const untrusted = await cli([...explain, '--admin', base, '--client-cert', operator.cert, '--client-key', operator.key]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/the server's certificate is not trusted \(.*\): pass --ca/);
  });

  test('a missing, unreadable or mismatched certificate or key file is a usage error naming it, before any call', async () => {
    const missing = path.join(pki.dir, 'none.crt');
    const cases: Array<[string[], NodeJS.ProcessEnv, string]> = [
      [['--client-cert', missing, '--client-key', operator.key], {}, `cannot read --client-cert ${missing}: ENOENT`],
      [['--client-cert', operator.cert, '--client-key', missing], {}, `cannot read --client-key ${missing}: ENOENT`],
      [[], { METAROUTE_ADMIN_CLIENT_CERT: missing, METAROUTE_ADMIN_CLIENT_KEY: operator.key }, `cannot read METAROUTE_ADMIN_CLIENT_CERT ${missing}`],
      [['--client-cert', operator.cert], {}, `--client-cert ${operator.cert} needs --client-key`],
      [['--client-cert', operator.key, '--client-key', operator.key], {}, `--client-cert ${operator.key}: not a PEM certificate`],
      [['--client-cert', operator.cert, '--client-key', pki.stranger.key], {}, `--client-key ${pki.stranger.key}: not the key of --client-cert ${operator.cert}`],
      [['--ca', operator.key], {}, `--ca ${operator.key}: not a PEM certificate`],
    ];
    for (const [flags, env, message] of cases) {
      // Port 1: a call would fail differently.
      const result = await cli([...explain, '--admin', 'https://127.0.0.1:1', ...flags], env);
      expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining(message) });
      expect(result.stderr).toContain('usage: metaroute explain');
    }
  });

  test('the agent registers, heartbeats past its TTL and deregisters with its client certificate; without one it gives up at once, saying why', async () => {
    const agent = pki.client('agent');
    const run = agentDeps({ METAROUTE_ADMIN_CA: pki.ca });
    const argv = ['--admin', base, '--service', 'aigc', '--host', '10.4.0.1', '--port', '7000', '--ttl', '3', '--client-cert', agent.cert, '--client-key', agent.key];
    expect(await runAgentArgs(argv, run.deps)).toBe(0);
    expect(await listed(base, pki, operator, 'aigc')).toEqual(['10.4.0.1:7000']);
    // Past the 3 s TTL (a heartbeat a second; one slow handshake on a busy machine is ridden out): heartbeats over mutual TLS keep it.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await listed(base, pki, operator, 'aigc')).toEqual(['10.4.0.1:7000']);
    run.signal('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(await listed(base, pki, operator, 'aigc')).toEqual([]);

    const bare = agentDeps({ METAROUTE_ADMIN_CA: pki.ca });
    expect(await runAgentArgs(argv.slice(0, -4), bare.deps)).toBe(1);
    expect(bare.logs.slice(1)).toEqual([
      `agent.failed: giving up: cannot reach ${base}/v1/instances: the server requires a client certificate (admin.tls.clientCaFile): pass --client-cert and --client-key (or METAROUTE_ADMIN_CLIENT_CERT and METAROUTE_ADMIN_CLIENT_KEY)`,
    ]);
  });

  test('the batch agent (--file) registers, heartbeats and deregisters with its client certificate', async () => {
    const agent = pki.client('node-agent');
    const file = path.join(pki.dir, 'instances.json');
    fs.writeFileSync(file, JSON.stringify([1, 2, 3].map((i) => ({ service: 'pods', host: '10.5.0.1', port: 9000 + i }))));
    const run = agentDeps({ METAROUTE_ADMIN_CLIENT_CERT: agent.cert, METAROUTE_ADMIN_CLIENT_KEY: agent.key });
    expect(await runAgentArgs(['--file', file, '--admin', base, '--ca', pki.ca, '--ttl', '3'], run.deps)).toBe(0);
    const ids = ['10.5.0.1:9001', '10.5.0.1:9002', '10.5.0.1:9003'];
    expect(await listed(base, pki, operator, 'pods')).toEqual(ids);
    await new Promise((r) => setTimeout(r, 5000)); // past the 3 s TTL
    expect(await listed(base, pki, operator, 'pods')).toEqual(ids);
    run.signal('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(await listed(base, pki, operator, 'pods')).toEqual([]);
    expect(run.logs.filter((l) => /failed|retry/.test(l))).toEqual([]);
  });
});
