import * as http from 'node:http';
import { api } from '../support/app';
import { EnvoyProcess, ENVOY, freePort, waitFor } from '../support/envoy';
import { MetarouteProcess } from '../support/metaroute-process';
import { describeWith } from '../support/requires';
import { PRECEDENCE_RULES } from '../support/precedence-rules';
import { listenOnLoopback, sidecarBootstrap } from '../support/sidecar';

/** A dock instance: answers with its name. */
function crane(name: string): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  return listenOnLoopback(server);
}

// PRECEDENCE_RULES through real sidecar Envoys from the shipped envoy/sidecar.yaml.
describeWith(ENVOY, "rule precedence through real sidecar Envoys: the caller's outbound rule beats the callee's inbound rule", () => {
  let metaroute: MetarouteProcess;
  const servers: http.Server[] = [];
  const envoys: EnvoyProcess[] = [];
  const outbound = new Map<string, number>();

  /** A caller's sidecar; its app is not needed: the test calls the outbound listener as the app would. */
  async function caller(service: string): Promise<void> {
    const ports = { outbound: await freePort(), inbound: await freePort(), app: await freePort() };
    envoys.push(await EnvoyProcess.start(sidecarBootstrap(metaroute, `${service}-1`, { service, labels: '' }, ports)));
    outbound.set(service, ports.outbound);
  }

  /** Which dock crane answered a call from `service` through its sidecar. */
  function call(service: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: outbound.get(service), path: '/', headers: { host: 'dock.default' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(res.statusCode === 200 ? body : `status ${res.statusCode}`));
      });
      req.on('error', reject);
      req.end();
    });
  }

  beforeAll(async () => {
    metaroute = await MetarouteProcess.start();
    for (const name of ['east', 'west']) {
      const { server, port } = await crane(name);
      servers.push(server);
      expect((await api(metaroute.admin, 'POST', '/v1/instances', { service: 'dock', id: name, host: '127.0.0.1', port, metadata: { crane: name }, ephemeral: false })).status).toBe(200);
    }
    expect((await api(metaroute.admin, 'PUT', '/v1/rules', PRECEDENCE_RULES)).status).toBe(200);
    await caller('harbor');
    await caller('ferry');
    // Both sidecars have dock's endpoints and the rules are live: each caller reaches its crane.
    await waitFor('harbor to reach the west crane', async () => ((await call('harbor')) === 'west' ? true : undefined), 60_000);
    await waitFor('ferry to reach the east crane', async () => ((await call('ferry')) === 'east' ? true : undefined), 60_000);
  }, 120_000);

  afterAll(async () => {
    for (const envoy of envoys) await envoy.stop();
    for (const server of servers) server.close();
    await metaroute?.stop();
  });

  test("harbor's calls to dock follow harbor's outbound rule (west), every time", async () => {
    const answers = new Set<string>();
    for (let i = 0; i < 20; i++) answers.add(await call('harbor'));
    expect([...answers]).toEqual(['west']);
  });

  test("another caller's calls follow dock's inbound rule (east), every time", async () => {
    const answers = new Set<string>();
    for (let i = 0; i < 20; i++) answers.add(await call('ferry'));
    expect([...answers]).toEqual(['east']);
  });
});
