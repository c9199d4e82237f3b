import * as http from 'node:http';
import * as path from 'node:path';
import { api } from '../support/app';
import { EnvoyProcess, ENVOY, freePort, waitFor } from '../support/envoy';
import { MetarouteProcess } from '../support/metaroute-process';
import { describeWith } from '../support/requires';
import { listenOnLoopback, sidecarBootstrap } from '../support/sidecar';

/**
 * A custom router that fails on a sidecar's outbound call, through a real sidecar Envoy built
 * from envoy/sidecar.yaml: the request still reaches the callee, and with the caller's
 * call-chain metadata (its transitive label as persistent metadata, every spelling written),
 * as it does when the router has no opinion.
 */

const MODULE = path.join(__dirname, '..', 'routing', 'fixtures', 'slot-pick-router.js');

describeWith(ENVOY, 'a failing custom router on a sidecar through real Envoy', () => {
  let metaroute: MetarouteProcess;
  let envoy: EnvoyProcess;
  let app: http.Server;
  let outbound: number;

  /** The callee app answers with the headers it received. */
  const call = (headers: Record<string, string>): Promise<{ status: number; received: Record<string, string> }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: outbound, path: '/', headers: { ...headers, host: 'shop.default' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, received: res.statusCode === 200 ? (JSON.parse(body) as Record<string, string>) : {} }));
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    metaroute = await MetarouteProcess.start({ routers: [{ module: MODULE }] });
    const callee = await listenOnLoopback(http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers));
    }));
    app = callee.server;
    expect((await api(metaroute.admin, 'POST', '/v1/instances', { service: 'shop', host: '127.0.0.1', port: callee.port, ephemeral: false })).status).toBeLessThan(300);
    outbound = await freePort();
    // The caller: an instance of web in lane dev1, its env label transitive (the agent's metaroute.transitive).
    envoy = await EnvoyProcess.start(sidecarBootstrap(metaroute, 'web-0', { service: 'web', labels: 'env=dev1', transitive: 'env' }, { outbound, inbound: await freePort(), app: await freePort() }));
    await waitFor('shop to answer through the sidecar', async () => ((await call({})).status === 200 ? true : undefined), 60_000);
  }, 180_000);

  afterAll(async () => {
    await envoy?.stop();
    await metaroute?.stop();
    await new Promise((r) => app?.close(r));
  });

  test.each(['throw', 'reject-without-status'])("a router that fails (%s) costs the request no call-chain metadata", async (act) => {
    const expected = { 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1', 'x-polaris-metadata-transitive-x': 'p1' };
    expect((await call({ 'x-act': 'none', 'rpc-persist-x': 'p1' })).received).toMatchObject(expected);
    const failed = await call({ 'x-act': act, 'rpc-persist-x': 'p1' });
    expect({ status: failed.status, received: failed.received }).toMatchObject({ status: 200, received: expected });
    const metrics = (await api(metaroute.admin, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/^metaroute_extproc_stream_errors_total\{reason="internal"\} [1-9]/m);
  });
});
