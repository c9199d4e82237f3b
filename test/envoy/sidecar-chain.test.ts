import * as http from 'node:http';
import { api } from '../support/app';
import { EnvoyProcess, ENVOY, freePort, waitFor } from '../support/envoy';
import { MetarouteProcess } from '../support/metaroute-process';
import { describeWith } from '../support/requires';
import { callNext, listenOnLoopback, sidecarBootstrap } from '../support/sidecar';

/**
 * The call chain client → a → b → c through real sidecar Envoys built from envoy/sidecar.yaml
 * (ports and the per-deployment identity substituted), one per instance. Each app calls the
 * next service through its own sidecar's outbound listener and copies every `rpc-*` header it
 * received onto that call, and every `rpc-backward-*` header of the answer onto its own, as a
 * CloudWeGo metainfo application does.
 */

interface Hop {
  readonly instance: string;
  readonly persist: string | undefined;
  readonly transit: string | undefined;
  /** The rpc-backward-k value in the answer this app got from the next hop. */
  readonly backwardFromNext: string | undefined;
  readonly next: Hop | undefined;
}

interface Instance {
  readonly id: string;
  readonly service: string;
  readonly lane: string | undefined;
  readonly outbound: number;
  readonly inbound: number;
  readonly envoy: EnvoyProcess;
}

const NEXT: Record<string, string | undefined> = { a: 'b', b: 'c', c: undefined };

/** The app behind one sidecar. */
function startApp(id: string, service: string, outbound: () => number): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    req.resume();
    const copied: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (name.startsWith('rpc-') && typeof value === 'string') copied[name] = value;
    const seen = { instance: id, persist: req.headers['rpc-persist-x'] as string | undefined, transit: req.headers['rpc-transit-t'] as string | undefined };
    const next = NEXT[service];
    // The last service sets backward metadata for its caller.
    const own: Record<string, string> = next ? {} : { 'rpc-backward-k': 'from-c' };
    if (!next) {
      res.writeHead(200, { 'content-type': 'application/json', ...own }).end(JSON.stringify({ ...seen, backwardFromNext: undefined }));
      return;
    }
    callNext(res, outbound(), next, copied, (status, body, answer) => {
      const backward: Record<string, string> = {};
      for (const [name, value] of Object.entries(answer.headers)) if (name.startsWith('rpc-backward-') && typeof value === 'string') backward[name] = value;
      const nextHop = status === 200 ? (JSON.parse(body) as Hop) : undefined;
      res.writeHead(status, { 'content-type': 'application/json', ...backward }).end(JSON.stringify({ ...seen, backwardFromNext: answer.headers['rpc-backward-k'], next: nextHop, status }));
    });
  });
  return listenOnLoopback(server);
}

describeWith(ENVOY, 'the sidecar call chain through real Envoys', () => {
  let metaroute: MetarouteProcess;
  const instances: Instance[] = [];
  const servers: http.Server[] = [];

  async function instance(id: string, service: string, lane: string | undefined): Promise<Instance> {
    const [outbound, inbound] = [await freePort(), await freePort()];
    const app = await startApp(id, service, () => outbound);
    servers.push(app.server);
    const labels = lane ? `env=${lane}` : 'role=app';
    const envoy = await EnvoyProcess.start(sidecarBootstrap(metaroute, id, { service, labels }, { outbound, inbound, app: app.port }));
    const registered = await api(metaroute.admin, 'POST', '/v1/instances', { service, host: '127.0.0.1', port: inbound, metadata: lane ? { env: lane } : {}, ephemeral: false });
    expect(registered.status).toBeLessThan(300);
    const created = { id, service, lane, outbound, inbound, envoy };
    instances.push(created);
    return created;
  }

  /** The client's call into the chain, through the client's own sidecar. */
  async function call(client: Instance, headers: Record<string, string>, host = 'a.default'): Promise<{ status: number; hop: Hop | undefined; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: client.outbound, path: '/', headers: { ...headers, host } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, hop: res.statusCode === 200 ? (JSON.parse(body) as Hop) : undefined, headers: res.headers }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  const path = (hop: Hop | undefined): string[] => (hop ? [hop.instance, ...path(hop.next)] : []);
  let client: Instance;

  beforeAll(async () => {
    metaroute = await MetarouteProcess.start({ routers: [{ name: 'lane', config: { enabled: true, key: 'env' } }] });
    client = await instance('client-0', 'client', undefined);
    await instance('a-base', 'a', undefined);
    await instance('a-dev1', 'a', 'dev1');
    await instance('b-base', 'b', undefined);
    await instance('c-base', 'c', undefined);
    await instance('c-dev1', 'c', 'dev1');
    await waitFor('the chain to answer through every sidecar', async () => ((await call(client, { 'rpc-persist-env': 'dev1' })).status === 200 ? true : undefined), 60_000);
  }, 180_000);

  afterAll(async () => {
    for (const i of instances) await i.envoy.stop();
    await metaroute?.stop();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  test('a lane: a and c have dev1 instances, b only a baseline; dev1 traffic returns to the lane at c', async () => {
    for (let i = 0; i < 10; i++) {
      expect(path((await call(client, { 'rpc-persist-env': 'dev1' })).hop)).toEqual(['a-dev1', 'b-base', 'c-dev1']);
      expect(path((await call(client, {})).hop)).toEqual(['a-base', 'b-base', 'c-base']);
    }
  });

  test('persistent metadata reaches every hop; transient exactly one hop; backward exactly one hop back', async () => {
    const { status, hop, headers } = await call(client, { 'rpc-persist-x': 'p1', 'rpc-transit-t': 't1' });
    expect(status).toBe(200);
    const [a, b, c] = [hop!, hop!.next!, hop!.next!.next!];
    expect([a.persist, b.persist, c.persist]).toEqual(['p1', 'p1', 'p1']);
    expect([a.transit, b.transit, c.transit]).toEqual(['t1', undefined, undefined]);
    // c sets rpc-backward-k for its caller: b sees it, a (and the client) do not, though every app copies it back.
    expect([b.backwardFromNext, a.backwardFromNext, headers['rpc-backward-k']]).toEqual(['from-c', undefined, undefined]);
  });

  test('a callee called by its service name, Kubernetes name or with a port reaches its cluster, lane kept (metaroute switches the cluster)', async () => {
    for (const host of ['a', 'a.default.svc.cluster.local', 'a.default:80']) {
      expect({ host, path: path((await call(client, { 'rpc-persist-env': 'dev1' }, host)).hop) }).toEqual({ host, path: ['a-dev1', 'b-base', 'c-dev1'] });
      expect({ host, path: path((await call(client, {}, host)).hop) }).toEqual({ host, path: ['a-base', 'b-base', 'c-base'] });
    }
  });

  test("each sidecar logs a line per request: the outbound one with metaroute's decision, the inbound one with the local app", async () => {
    const log = (i: Instance): Array<Record<string, unknown>> =>
      i.envoy.stdout.join('').split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const id = `logged-${Date.now()}`; // the apps copy rpc-* headers only: the id stays on the first hop
    expect((await call(client, { 'rpc-persist-env': 'dev1', 'x-request-id': id })).status).toBe(200);
    const line = (i: Instance, side: string) => waitFor(`${i.id}'s ${side} line`, () => log(i).find((l) => l['request_id'] === id && l['side'] === side));
    expect(await line(client, 'outbound')).toMatchObject({ authority: 'a.default', status: 200, cluster: 'a.default', envoy_lb: { env: 'dev1' } });
    expect(await line(instances.find((i) => i.id === 'a-dev1')!, 'inbound')).toMatchObject({ authority: 'a.default', status: 200, route: 'local-app', envoy_lb: null });
  });

  test('the metadata size limit answers 400', async () => {
    expect((await call(client, { 'rpc-persist-big': 'x'.repeat(9000) })).status).toBe(400);
  });

  test('the inbound call never routes or rejects: a failover-none rule for b does not touch requests arriving at b', async () => {
    const rules = `
rules:
  - name: b-isolated
    service: b
    sources: [{ arguments: [{ type: header, key: x-isolate, match: { type: EXISTS } }] }]
    destinations: [{ name: nowhere, labels: { env: nowhere } }]
    failover: none
`;
    expect((await api(metaroute.admin, 'PUT', '/v1/rules', rules)).status).toBe(200);
    const b = instances.find((i) => i.id === 'b-base')!;
    // Straight into b's inbound listener (as a peer sidecar would deliver it): b's app answers.
    const direct = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: b.inbound, path: '/', headers: { 'x-isolate': '1', host: 'b.default' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    expect(direct).toBe(200);
    // The same request sent to b through a caller's outbound sidecar is decided there: 503, the rule's failover.
    await waitFor('the rule to reach outbound decisions', async () => ((await call(client, { 'x-isolate': '1' }, 'b')).status === 503 ? true : undefined), 10_000);
  });
});
