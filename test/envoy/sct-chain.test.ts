import * as http from 'node:http';
import { runAgentArgs } from '../../src/cli/agent';
import { api } from '../support/app';
import { EnvoyProcess, ENVOY, freePort, waitFor } from '../support/envoy';
import { MetarouteProcess } from '../support/metaroute-process';
import { describeWith } from '../support/requires';
import { callNext, listenOnLoopback, sidecarBootstrap } from '../support/sidecar';

/**
 * Spring Cloud Tencent's feature environment through real sidecar Envoys (envoy/sidecar.yaml,
 * one per instance): SvcA and SvcD have a dev1 instance (SCT_METADATA_CONTENT_ENV=dev1,
 * SCT_METADATA_CONTENT_TRANSITIVE=ENV, read by the real agent CLI) and a baseline one; SvcB
 * and SvcC exist only in the baseline. A starts the chain A → B → C → D on its own, with no
 * header from anyone: the lane is only A's instance label, and A's sidecar must carry it.
 *
 * A mixed mesh: A and D propagate as SCT applications do (SCT's metadata-transfer reads
 * SCT-CUSTOM-METADATA and X-SCT-Metadata-Transitive-*, and writes SCT-CUSTOM-METADATA on the
 * calls it makes); B as a polaris-java application does (whole-chain values travel as
 * X-Polaris-Metadata-Transitive-<k>, one header a key, and only so); C is a CloudWeGo
 * metainfo application (it copies the `rpc-*` headers it received). One lane must survive all three.
 */

const SCT = 'sct-custom-metadata';
const SCT_PREFIX = 'x-sct-metadata-transitive-';
const POLARIS_PREFIX = 'x-polaris-metadata-transitive-';
const NEXT: Record<string, string | undefined> = { a: 'b', b: 'c', c: 'd', d: undefined };

interface Hop {
  readonly instance: string;
  /** SCT-CUSTOM-METADATA as this app read it (decoded), if it came. */
  readonly sct: Record<string, unknown> | undefined;
  /** X-Polaris-Metadata-Transitive-env as this app read it, if it came. */
  readonly polarisEnv: string | undefined;
  readonly next: Hop | undefined;
}

/** SCT's reading: URLDecoder.decode (a '+' is a space), then the JSON map. */
function sctMap(value: string | undefined): Record<string, unknown> | undefined {
  return value === undefined ? undefined : (JSON.parse(decodeURIComponent(value.replace(/\+/g, ' '))) as Record<string, unknown>);
}

type Style = 'sct' | 'polaris' | 'metainfo';

function copied(req: http.IncomingMessage, prefix: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (name.startsWith(prefix) && typeof value === 'string') headers[name] = value;
  return headers;
}

/** The headers this app puts on its call to the next service. */
function propagate(style: Style, req: http.IncomingMessage, own: Record<string, string>): Record<string, string> {
  if (style === 'metainfo') return copied(req, 'rpc-');
  if (style === 'polaris') {
    // polaris-java: its whole-chain values, each under X-Polaris-Metadata-Transitive-<k>.
    const context = copied(req, POLARIS_PREFIX);
    for (const [key, value] of Object.entries(own)) context[POLARIS_PREFIX + key] = value;
    return context;
  }
  // SCT: the transitive context is SCT-CUSTOM-METADATA, then X-SCT-Metadata-Transitive-<k> over it, then what the code set.
  const context: Record<string, unknown> = { ...sctMap(req.headers[SCT] as string | undefined) };
  for (const [name, value] of Object.entries(req.headers)) if (name.startsWith(SCT_PREFIX) && typeof value === 'string') context[name.slice(SCT_PREFIX.length)] = value;
  Object.assign(context, own);
  return Object.keys(context).length > 0 ? { [SCT]: encodeURIComponent(JSON.stringify(context)) } : {};
}

function startApp(id: string, service: string, style: Style, outbound: () => number): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    req.resume();
    const seen = { instance: id, sct: sctMap(req.headers[SCT] as string | undefined), polarisEnv: req.headers[`${POLARIS_PREFIX}env`] as string | undefined };
    const next = NEXT[service];
    if (!next) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(seen));
      return;
    }
    // The code of A may set a transitive value of its own (`?biz=x`), as an SCT application can.
    const biz = new URL(req.url ?? '/', 'http://a').searchParams.get('biz');
    callNext(res, outbound(), next, propagate(style, req, biz ? { biz } : {}), (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ ...seen, next: status === 200 ? JSON.parse(body) : undefined }));
    });
  });
  return listenOnLoopback(server);
}

describeWith(ENVOY, 'Spring Cloud Tencent transitive metadata through real sidecar Envoys', () => {
  let metaroute: MetarouteProcess;
  const envoys: EnvoyProcess[] = [];
  const servers: http.Server[] = [];
  const agents: Array<{ stop: () => void; exited: Promise<number> }> = [];
  const inbound = new Map<string, number>();

  /** One instance: its app, the real agent registering it from the environment, and its sidecar templated from what the agent registered. */
  async function instance(id: string, service: string, style: Style, env: NodeJS.ProcessEnv): Promise<void> {
    const ports = { outbound: await freePort(), inbound: await freePort() };
    const app = await startApp(id, service, style, () => ports.outbound);
    servers.push(app.server);
    let stop: () => void = () => undefined;
    const exited = new Promise<number>((resolve) => {
      const argv = ['--admin', metaroute.admin, '--service', service, '--id', id, '--host', '127.0.0.1', '--port', String(ports.inbound), '--ttl', '30'];
      void runAgentArgs(argv, { env, log: () => undefined, onSignal: (signal, handler) => void (signal === 'SIGTERM' && (stop = handler)), exit: resolve });
    });
    agents.push({ stop: () => stop(), exited });
    const registered = await waitFor(`${id} to be registered by its agent`, async () => {
      const answer = await api(metaroute.admin, 'GET', `/v1/instances?service=${service}`);
      return (answer.json.instances as Array<{ id: string; metadata: Record<string, string> }>).find((i) => i.id === id);
    });
    // The deploy tooling's templating: the sidecar's labels and transitive keys are the registered ones.
    const { 'metaroute.transitive': transitive = '', ...labels } = registered.metadata;
    const identity = { service, labels: Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','), transitive };
    envoys.push(await EnvoyProcess.start(sidecarBootstrap(metaroute, id, identity, { ...ports, app: app.port })));
    inbound.set(id, ports.inbound);
  }

  /** A starts the chain itself: the request reaches A's instance through its inbound listener, without any header. */
  async function start(id: string, query = ''): Promise<{ status: number; hop: Hop | undefined }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: inbound.get(id), path: `/${query}` }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, hop: res.statusCode === 200 ? (JSON.parse(body) as Hop) : undefined }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  const hops = (hop: Hop | undefined): Hop[] => (hop ? [hop, ...hops(hop.next)] : []);
  const path = (hop: Hop | undefined): string[] => hops(hop).map((h) => h.instance);

  beforeAll(async () => {
    metaroute = await MetarouteProcess.start({ routers: [{ name: 'lane', config: { enabled: true, key: 'env' } }] });
    const dev1 = { SCT_METADATA_CONTENT_ENV: 'dev1', SCT_METADATA_CONTENT_TRANSITIVE: 'ENV' };
    await instance('a-dev1', 'a', 'sct', dev1);
    await instance('a-base', 'a', 'sct', {});
    await instance('b-base', 'b', 'polaris', {});
    await instance('c-base', 'c', 'metainfo', {});
    await instance('d-dev1', 'd', 'sct', dev1);
    await instance('d-base', 'd', 'sct', {});
    await waitFor('the chain to answer through every sidecar', async () => (path((await start('a-base')).hop).length === 4 ? true : undefined), 60_000);
  }, 180_000);

  afterAll(async () => {
    for (const agent of agents) agent.stop();
    await Promise.all(agents.map((a) => a.exited));
    for (const envoy of envoys) await envoy.stop();
    await metaroute?.stop();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  test('the agent registers SCT\'s environment as env=dev1 with metaroute.transitive=env', async () => {
    const answer = await api(metaroute.admin, 'GET', '/v1/instances?service=a');
    const a = (answer.json.instances as Array<{ id: string; metadata: Record<string, string> }>).find((i) => i.id === 'a-dev1');
    expect(a?.metadata).toEqual({ env: 'dev1', 'metaroute.transitive': 'env' });
  });

  test('a chain A starts in dev1 prefers dev1 at every hop: B and C fall back to baseline, D returns to dev1; from A\'s baseline it stays baseline', async () => {
    // 20 chains each: a random pick between D's two instances would pass all 20 once in a million.
    for (let i = 0; i < 20; i++) {
      expect(path((await start('a-dev1')).hop)).toEqual(['a-dev1', 'b-base', 'c-base', 'd-dev1']);
      expect(path((await start('a-base')).hop)).toEqual(['a-base', 'b-base', 'c-base', 'd-base']);
    }
  });

  test('SCT applications read the lane in SCT-CUSTOM-METADATA, merged with what the application set, also after a metainfo hop', async () => {
    const [a, b, c, d] = hops((await start('a-dev1', '?biz=x')).hop);
    expect(a?.sct).toBeUndefined(); // nothing came from outside
    // A's sidecar added its transitive label to the metadata A's code set, without replacing it,
    // and wrote it in Polaris's spelling too: the only one B (polaris-java) carries on.
    expect(b?.sct).toEqual({ biz: 'x', env: 'dev1' });
    expect(b?.polarisEnv).toBe('dev1');
    // B's sidecar read Polaris's spelling and wrote metainfo's: C (metainfo) copied only rpc-persist-*,
    // and C's sidecar wrote them in SCT's spelling for D.
    expect(c?.instance).toBe('c-base');
    expect(d).toEqual({ instance: 'd-dev1', sct: { biz: 'x', env: 'dev1' }, polarisEnv: 'dev1' });
  });
});
