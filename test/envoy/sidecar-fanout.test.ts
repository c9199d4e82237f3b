import * as http from 'node:http';
import { api } from '../support/app';
import { EnvoyProcess, ENVOY, freePort, waitFor } from '../support/envoy';
import { MetarouteProcess } from '../support/metaroute-process';
import { describeWith } from '../support/requires';
import { callNext, listenOnLoopback, sidecarBootstrap } from '../support/sidecar';

/**
 * Backward metadata when a service calls several others: b calls c and then d, each answers an
 * `rpc-backward-*` value, and b's app copies every backward header line of both answers onto
 * its own answer, one line per value, as a Go app copying headers with `Header().Add` does.
 * Each answer carries its own marker line, so b's answer has two. Real sidecar Envoys built
 * from envoy/sidecar.yaml, one per instance.
 */

const BACKWARD: Record<string, Record<string, string>> = { c: { 'rpc-backward-k': 'from-c' }, d: { 'rpc-backward-j': 'from-d' } };

/** b's app: what it got back from c and d, and every backward line of both answers copied onto its own. */
function fanOutApp(outbound: () => number): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    const lines: [string, string][] = [['rpc-backward-own', 'from-b']];
    const got: Record<string, string | undefined> = {};
    const callEach = (services: string[]): void => {
      const [next, ...rest] = services;
      if (!next) {
        const headers: Record<string, string[]> = {};
        for (const [name, value] of lines) (headers[name] ??= []).push(value);
        res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(got));
        return;
      }
      callNext(res, outbound(), next, {}, (_status, _body, answer) => {
        got[next] = (answer.headers[Object.keys(BACKWARD[next]!)[0]!] as string | undefined);
        for (let i = 0; i < answer.rawHeaders.length; i += 2) {
          const name = answer.rawHeaders[i]!.toLowerCase();
          if (name.startsWith('rpc-backward-')) lines.push([name, answer.rawHeaders[i + 1]!]);
        }
        callEach(rest);
      });
    };
    callEach(['c', 'd']);
  });
}

/** c's and d's apps: each answers its own backward value. */
const leafApp = (service: string): http.Server => http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, BACKWARD[service]).end(service);
});

describeWith(ENVOY, 'backward metadata from a service that calls several others, through real Envoys', () => {
  let metaroute: MetarouteProcess;
  const envoys: EnvoyProcess[] = [];
  const servers: http.Server[] = [];
  const outbound: Record<string, number> = {};

  async function instance(service: string, app: (outbound: () => number) => http.Server): Promise<void> {
    const [out, inbound] = [await freePort(), await freePort()];
    outbound[service] = out;
    const { server, port } = await listenOnLoopback(app(() => out));
    servers.push(server);
    envoys.push(await EnvoyProcess.start(sidecarBootstrap(metaroute, `${service}-0`, { service, labels: 'role=app' }, { outbound: out, inbound, app: port })));
    expect((await api(metaroute.admin, 'POST', '/v1/instances', { service, host: '127.0.0.1', port: inbound, ephemeral: false })).status).toBeLessThan(300);
  }

  /** The client's call to b through the client's own sidecar. */
  const callB = (): Promise<{ status: number; headers: http.IncomingHttpHeaders; got: Record<string, string | undefined> }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: outbound['client'], path: '/', headers: { host: 'b.default' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, got: res.statusCode === 200 ? JSON.parse(body) : {} }));
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    metaroute = await MetarouteProcess.start();
    await instance('client', () => http.createServer((_req, res) => res.end()));
    await instance('b', fanOutApp);
    await instance('c', () => leafApp('c'));
    await instance('d', () => leafApp('d'));
    await waitFor('b to reach c and d through the sidecars', async () => {
      const { status, got } = await callB();
      return status === 200 && got['c'] && got['d'] ? true : undefined;
    }, 60_000);
  }, 180_000);

  afterAll(async () => {
    for (const envoy of envoys) await envoy.stop();
    await metaroute?.stop();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  test("b gets c's and d's backward values; b's caller gets only b's own", async () => {
    const { status, headers, got } = await callB();
    expect(status).toBe(200);
    expect(got).toEqual({ c: 'from-c', d: 'from-d' });
    expect(headers['rpc-backward-own']).toBe('from-b');
    expect([headers['rpc-backward-k'], headers['rpc-backward-j']]).toEqual([undefined, undefined]);
  });
});
