import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { App } from '../../src/app/app';
import { DEFAULTS, type ServerConfig } from '../../src/config/config';
import { ExtProcClient, lbLabels } from '../support/extproc-client';
import { api, startApp, until } from '../support/app';
import { MetarouteProcess } from '../support/metaroute-process';
import { makeTestPki, opensslAvailable, rotatingFiles, type TestPki } from '../support/certificates';
import { captureLogs } from '../support/logs';
import { TYPE, XdsTestClient, names } from '../xds/helpers';

/**
 * TLS and mutual TLS on the ext_proc and xDS listeners, and the xDS client identity check,
 * with real grpc-js clients over loopback and certificates made by openssl at test time.
 */
const HAVE_OPENSSL = opensslAvailable();
if (!HAVE_OPENSSL) {
  test('grpc tls: openssl missing', () => {
    if (process.env.CI === 'true') throw new Error('openssl is required under CI (apt-get install openssl)');
    console.log('skipped: no openssl on PATH (apt-get install openssl)');
  });
}
const maybe = HAVE_OPENSSL ? describe : describe.skip;

const XDS_TOKEN = 'xds-0123456789abcdef-secret';
const staff = { ':method': 'GET', ':path': '/', ':authority': 'shop' };
const read = (file: string) => fs.readFileSync(file);

let pki: TestPki;
beforeAll(() => {
  if (HAVE_OPENSSL) pki = makeTestPki();
});

async function start(over: (pki: TestPki) => Partial<ServerConfig>) {
  const env = await startApp(over(pki));
  await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'gray' } });
  await api(env.admin, 'PUT', '/v1/rules', 'rules:\n  - { name: gray, service: shop, destinations: [{ name: g, labels: { version: gray } }] }\n');
  await until(() => env.app.engine.current.rules.inbound.size === 1 && env.app.engine.current.registry.services.size === 1, 'setup');
  return env;
}

/** The error of a call that must fail, or undefined when it answered. */
const failure = (client: ExtProcClient) => client.request(staff).then(() => undefined, (e: grpc.ServiceError) => e);

maybe('ext_proc over TLS', () => {
  test('TLS: a client trusting the CA routes; a plaintext client cannot talk to it', async () => {
    const env = await start((p) => ({ extProc: { ...DEFAULTS.extProc, tls: { certFile: p.serverCert, keyFile: p.serverKey, clientCaFile: undefined, reloadSeconds: 60 } } }));
    const clients: ExtProcClient[] = [];
    try {
      const tls = new ExtProcClient(env.extProc, {}, grpc.credentials.createSsl(read(pki.ca)));
      const plain = new ExtProcClient(env.extProc);
      clients.push(tls, plain);
      expect(lbLabels(await tls.request(staff))).toEqual({ version: 'gray' });
      expect((await failure(plain))?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      clients.forEach((c) => c.close());
      await env.app.stop();
    }
  });

  test('an unusable key file stops the start, naming it, before the store opens and before the ext_proc warm-up', async () => {
    const { certFile, keyFile, install } = rotatingFiles();
    install(pki.serverCert, pki.serverKey);
    fs.writeFileSync(keyFile, 'not a key');
    const { logger, lines } = captureLogs();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-test-'));
    const tls = { certFile, keyFile, clientCaFile: undefined, reloadSeconds: 60 };
    let started: App | undefined; // only if the start wrongly succeeds
    try {
      const start = App.start({ ...DEFAULTS, ports: { extProc: 0, xds: 0, admin: 0 }, dataDir, extProc: { ...DEFAULTS.extProc, warmUpStreams: 300, tls } }, logger);
      await expect(start.then((app) => (started = app))).rejects.toThrow(`extProc.tls: ${certFile}, ${keyFile}`);
      expect(lines.some((line) => line.includes('"extproc.warm-up"'))).toBe(false);
      expect(fs.readdirSync(dataDir)).toEqual([]); // the embedded store was never opened
    } finally {
      await started?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('mutual TLS: only a client certificate the client CA signed gets an answer', async () => {
    const env = await start((p) => ({ extProc: { ...DEFAULTS.extProc, tls: { certFile: p.serverCert, keyFile: p.serverKey, clientCaFile: p.ca, reloadSeconds: 60 } } }));
    const clients: ExtProcClient[] = [];
    const client = (cert?: { cert: string; key: string }) => {
      const c = new ExtProcClient(env.extProc, {}, grpc.credentials.createSsl(read(pki.ca), cert ? read(cert.key) : null, cert ? read(cert.cert) : null));
      clients.push(c);
      return c;
    };
    try {
      expect(lbLabels(await client(pki.client('envoy-sidecar')).request(staff))).toEqual({ version: 'gray' });
      expect((await failure(client()))?.code).toBe(grpc.status.UNAVAILABLE);
      expect((await failure(client(pki.stranger)))?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      clients.forEach((c) => c.close());
      await env.app.stop();
    }
  });

  test('mutual TLS with extProc.clients.certificateNames: a listed CN, DNS or URI SAN routes; another name from the same CA ends PERMISSION_DENIED, logged once per connection', async () => {
    const spiffe = 'spiffe://mesh.local/ns/edge/sa/gateway';
    const env = await start((p) => ({
      extProc: { ...DEFAULTS.extProc, tls: { certFile: p.serverCert, keyFile: p.serverKey, clientCaFile: p.ca, reloadSeconds: 60 }, clients: { certificateNames: ['envoy-sidecar', spiffe] } },
    }));
    const clients: ExtProcClient[] = [];
    // Each client its own connection (no subchannel shared with another client).
    const client = (cert: { cert: string; key: string }) => {
      const c = new ExtProcClient(env.extProc, {}, grpc.credentials.createSsl(read(pki.ca), read(cert.key), read(cert.cert)), { 'grpc.use_local_subchannel_pool': 1 });
      clients.push(c);
      return c;
    };
    const refusals = () => env.logs.map((l) => JSON.parse(l) as { event?: string; certificate?: string[]; peer?: string }).filter((l) => l.event === 'extproc.refused');
    const refusedStreams = async () => Number(/^metaroute_extproc_stream_errors_total\{reason="refused_client"\} (\d+)$/m.exec((await api(env.admin, 'GET', '/metrics')).text)?.[1] ?? 0);
    try {
      expect(lbLabels(await client(pki.client('envoy-sidecar')).request(staff))).toEqual({ version: 'gray' });
      expect(lbLabels(await client(pki.client('gateway-7', `URI:${spiffe}`)).request(staff))).toEqual({ version: 'gray' });
      expect(refusals()).toEqual([]);

      const intruder = client(pki.client('intruder'));
      for (let i = 0; i < 3; i++) {
        expect(await failure(intruder)).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'ext_proc: the client certificate (intruder) has none of the names in extProc.clients.certificateNames' });
      }
      // Three refused streams on one connection: one log line naming what it presented, three counted.
      expect(refusals().map((r) => r.certificate)).toEqual([['intruder']]);
      expect(refusals()[0]!.peer).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(await refusedStreams()).toBe(3);
      // A new connection with that certificate is checked (and logged) on its own.
      expect(await failure(client(pki.client('intruder')))).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      expect(refusals()).toHaveLength(2);
      // The allowed connection is unaffected; gRPC health stays open to any certificate (as on xDS).
      expect(lbLabels(await clients[0]!.request(staff))).toEqual({ version: 'gray' });
      const cert = pki.client('intruder');
      const health = new grpc.Client(env.extProc, grpc.credentials.createSsl(read(pki.ca), read(cert.key), read(cert.cert)));
      const served = await new Promise<Buffer>((resolve, reject) =>
        health.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e, r) => (e ? reject(e) : resolve(r!))),
      ).finally(() => health.close());
      expect(served).toEqual(Buffer.from([0x08, 0x01])); // status: SERVING
    } finally {
      clients.forEach((c) => c.close());
      await env.app.stop();
    }
  });

  test('workers: 2 serve ext_proc with the same mutual TLS and certificate names: a listed client is answered, an unlisted or plaintext one is not', async () => {
    const server = await MetarouteProcess.start({ workers: 2, extProc: { tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.ca }, clients: { certificateNames: ['envoy-sidecar'] } } });
    const clients: ExtProcClient[] = [];
    const mutual = (cert: { cert: string; key: string }) => grpc.credentials.createSsl(read(pki.ca), read(cert.key), read(cert.cert));
    try {
      const tls = new ExtProcClient(`127.0.0.1:${server.ports.extProc}`, {}, mutual(pki.client('envoy-sidecar')));
      const unlisted = new ExtProcClient(`127.0.0.1:${server.ports.extProc}`, {}, mutual(pki.client('intruder')));
      const plain = new ExtProcClient(`127.0.0.1:${server.ports.extProc}`);
      clients.push(tls, unlisted, plain);
      // The primary reports serving once its workers are; a worker bound in plaintext would answer `plain`.
      await until(async () => (await failure(tls)) === undefined, 'a worker to answer over TLS', 60_000);
      expect((await failure(unlisted))?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect((await failure(plain))?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      clients.forEach((c) => c.close());
      await server.stop();
    }
  }, 120_000);

  test('workers: 2, a worker dies while the key file is bad: its replacement is tried again until the files load, and /readyz says no worker serves meanwhile', async () => {
    const { certFile, keyFile, install } = rotatingFiles();
    install(pki.serverCert, pki.serverKey);
    const server = await MetarouteProcess.start({ workers: 2, extProc: { tls: { certFile, keyFile } } });
    const clients: ExtProcClient[] = [];
    // Each its own connection, so each is handed to a worker serving now.
    const answered = async () => {
      const client = new ExtProcClient(`127.0.0.1:${server.ports.extProc}`, {}, grpc.credentials.createSsl(read(pki.ca)), { 'grpc.use_local_subchannel_pool': 1 });
      clients.push(client);
      return (await failure(client)) === undefined;
    };
    const ready = async () => (await api(server.admin, 'GET', '/readyz')).json.status as string;
    const servers = async () => (await api(server.admin, 'GET', '/metrics')).text.match(/^metaroute_extproc_servers\{state="serving"\} (\d+)$/m)?.[1];
    // The primary's lines (the failing worker logs worker.failed too, without an attempt).
    const lines = () => server.logs.join('').split('\n');
    const failed = () => lines().filter((l) => l.includes('"event":"worker.failed"') && l.includes('"attempt"'));
    const warmUps = () => lines().filter((l) => l.includes('"event":"extproc.warm-up"')).length;
    try {
      await until(answered, 'a worker to answer over TLS', 60_000);
      expect([await ready(), await servers()]).toEqual(['ready', '2']);
      fs.writeFileSync(keyFile, 'not a key'); // half a rotation
      for (const worker of (await api(server.admin, 'GET', '/config_dump')).json.workers as { pid: number }[]) process.kill(worker.pid, 'SIGKILL');
      await until(async () => failed().length >= 3 && (await ready()) === 'no ext_proc worker', 'replacements to fail and be tried again', 30_000);
      expect(await servers()).toBe('0');
      expect(JSON.parse(failed()[0]!)).toMatchObject({ attempt: 1, retryInMs: 1000 });
      install(pki.serverCert, pki.serverKey); // the rotation completes: the next tries serve
      await until(async () => (await ready()) === 'ready' && (await servers()) === '2', 'both workers back', 60_000);
      expect(await answered()).toBe(true);
      // One warm-up per worker that served (two at the start, two after the rotation): the
      // replacements that met the bad key stopped before theirs.
      expect(warmUps()).toBe(4);
    } finally {
      clients.forEach((c) => c.close());
      await server.stop();
    }
  }, 150_000);

  test('renewed certificate files are served to new connections without a restart; a key that does not match is refused and the old pair kept', async () => {
    const { certFile, keyFile, install } = rotatingFiles();
    install(pki.serverCert, pki.serverKey);
    const env = await start(() => ({ extProc: { ...DEFAULTS.extProc, tls: { certFile, keyFile, clientCaFile: undefined, reloadSeconds: 1 } } }));
    const clients: ExtProcClient[] = [];
    // Each its own connection (no subchannel shared with an earlier client), so each meets the certificate served now.
    const trusting = (ca: string) => {
      const c = new ExtProcClient(env.extProc, {}, grpc.credentials.createSsl(read(ca)), { 'grpc.use_local_subchannel_pool': 1 });
      clients.push(c);
      return c;
    };
    const events = (name: string) => env.logs.map((l) => JSON.parse(l) as { event?: string }).filter((r) => r.event === name);
    try {
      expect(lbLabels(await trusting(pki.ca).request(staff))).toEqual({ version: 'gray' });
      // Half a rotation: the new certificate beside the old key. Refused; the old pair keeps serving.
      install(pki.otherServer.cert, pki.serverKey);
      await until(() => events('tls.reload.failed').length > 0, 'the mismatched pair to be refused', 10_000);
      expect(lbLabels(await trusting(pki.ca).request(staff))).toEqual({ version: 'gray' });
      install(pki.otherServer.cert, pki.otherServer.key);
      await until(() => events('tls.reloaded').length > 0, 'the new pair to be taken', 10_000);
      expect(lbLabels(await trusting(pki.otherCa).request(staff))).toEqual({ version: 'gray' });
      expect((await failure(trusting(pki.ca)))?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      clients.forEach((c) => c.close());
      await env.app.stop();
    }
  });
});

maybe('xDS client identity', () => {
  const subscribe = async (port: number, connection: ConstructorParameters<typeof XdsTestClient>[3]) => {
    const c = new XdsTestClient(port, 'sotw', 'ads', connection);
    try {
      c.send({ node: { id: 'envoy-1' }, type_url: TYPE.CDS });
      return { clusters: names(await c.next()), status: undefined };
    } catch {
      return { clusters: undefined, status: c.status ?? c.error };
    } finally {
      c.close();
    }
  };
  const bearer = (token: string) => {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${token}`);
    return m;
  };

  test('tokens in gRPC metadata: none or a wrong one is UNAUTHENTICATED with no resource sent; the listed one subscribes; health stays open', async () => {
    const env = await start(() => ({ xds: { ...DEFAULTS.xds, clients: { tokens: [XDS_TOKEN], certificateNames: [], required: 'auto' } } }));
    try {
      const port = env.app.ports.xds;
      const anonymous = await subscribe(port, {});
      expect(anonymous.clusters).toBeUndefined();
      expect(anonymous.status).toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: 'xDS needs a client identity: a client certificate or authorization: Bearer <token> metadata' });
      expect((await subscribe(port, { metadata: bearer('xds-0123456789abcdef-wrong!') })).status).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      expect((await subscribe(port, { metadata: bearer(XDS_TOKEN) })).clusters).toEqual(['shop.default']);
      // Each refusal is counted and logged, naming what the caller presented (never the token).
      expect((await api(env.admin, 'GET', '/metrics')).text).toMatch(/^metaroute_xds_refused_total 2$/m);
      const refusals = env.logs.map((l) => JSON.parse(l)).filter((l) => l.event === 'xds.refused');
      expect(refusals.map((r) => [r.method, r.token, r.certificate])).toEqual([
        ['/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', false, undefined],
        ['/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', true, undefined],
      ]);
      expect(env.logs.join('\n')).not.toContain('xds-0123456789abcdef-wrong!');

      const health = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      const served = await new Promise<Buffer>((resolve, reject) =>
        health.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e, r) => (e ? reject(e) : resolve(r!))),
      );
      health.close();
      expect(served).toEqual(Buffer.from([0x08, 0x01])); // status: SERVING
    } finally {
      await env.app.stop();
    }
  });

  test('mutual TLS with certificateNames: a listed name subscribes without a token; another name from the same CA needs the token; another CA never connects', async () => {
    const env = await start((p) => ({
      xds: { ...DEFAULTS.xds, tls: { certFile: p.serverCert, keyFile: p.serverKey, clientCaFile: p.ca, reloadSeconds: 60 }, clients: { tokens: [XDS_TOKEN], certificateNames: ['envoy-sidecar'], required: true } },
    }));
    const tls = (cert: { cert: string; key: string }) => grpc.credentials.createSsl(read(pki.ca), read(cert.key), read(cert.cert));
    try {
      const port = env.app.ports.xds;
      expect((await subscribe(port, { credentials: tls(pki.client('envoy-sidecar')) })).clusters).toEqual(['shop.default']);
      const intruder = pki.client('intruder');
      expect((await subscribe(port, { credentials: tls(intruder) })).status).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      expect(env.logs.map((l) => JSON.parse(l)).filter((l) => l.event === 'xds.refused').map((r) => r.certificate)).toEqual([['intruder']]);
      expect((await subscribe(port, { credentials: tls(intruder), metadata: bearer(XDS_TOKEN) })).clusters).toEqual(['shop.default']);
      expect((await subscribe(port, { credentials: tls(pki.stranger) })).status).toMatchObject({ code: grpc.status.UNAVAILABLE });
    } finally {
      await env.app.stop();
    }
  });

  test('binding beyond loopback without any xDS client identity is refused at start', async () => {
    await expect(startApp({ host: '0.0.0.0', auth: { requireAdminAuth: false, tokens: [] } })).rejects.toThrow(
      /^xds\.clients: the server binds 0\.0\.0\.0, beyond loopback, so xDS clients need an identity/,
    );
  });
});
