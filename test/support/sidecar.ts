import * as http from 'node:http';
import type * as net from 'node:net';
import { api } from './app';
import { EnvoyProcess, freePort, shippedBootstrap, substitutePorts, waitFor } from './envoy';
import { MetarouteProcess } from './metaroute-process';

type Bootstrap = Record<string, any>;

/** The caller-identity values of one instance, as the deploy tooling fills them in. */
export interface SidecarIdentity {
  readonly service: string;
  /** `k=v,k=v`, the labels the instance registered. */
  readonly labels: string;
  /** `k,k`, the registered `metaroute.transitive`; empty for none. */
  readonly transitive?: string;
}

/**
 * envoy/sidecar.yaml for one instance: its ports and its PER DEPLOYMENT identity. Every
 * caller-identity entry the test fills must be in the shipped file, so a value the shipped
 * config lacks fails here instead of being added silently.
 */
export function sidecarBootstrap(metaroute: MetarouteProcess, id: string, identity: SidecarIdentity, ports: { outbound: number; inbound: number; app: number }): Bootstrap {
  const bootstrap = shippedBootstrap('sidecar.yaml') as Bootstrap;
  substitutePorts(bootstrap, new Map([[15001, ports.outbound], [15006, ports.inbound], [8080, ports.app], [9901, 0], [18080, metaroute.ports.extProc], [18000, metaroute.ports.xds]]));
  bootstrap['node'] = { id: `${id}.default`, cluster: `${identity.service}.default` };
  const values: Record<string, string | undefined> = {
    'x-metaroute-caller-service': identity.service,
    'x-metaroute-caller-labels': identity.labels,
    'x-metaroute-caller-transitive': identity.transitive,
  };
  const filled = new Set<string>();
  for (const listener of bootstrap['static_resources'].listeners) {
    const hcm = listener.filter_chains[0].filters[0].typed_config;
    const extProc = hcm.http_filters.find((f: Bootstrap) => f['name'] === 'envoy.filters.http.ext_proc').typed_config;
    for (const entry of extProc.grpc_service.initial_metadata) {
      const value = values[entry.key];
      if (value === undefined) continue;
      entry.value = value;
      filled.add(entry.key);
    }
  }
  const missing = Object.keys(values).filter((k) => values[k] !== undefined && !filled.has(k));
  if (missing.length > 0) throw new Error(`envoy/sidecar.yaml has no initial_metadata entry ${missing.join(', ')} to fill in`);
  return bootstrap;
}

/** An app server behind a sidecar, listening on a loopback port the OS picks. */
export function listenOnLoopback(server: http.Server): Promise<{ server: http.Server; port: number }> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port })));
}

/**
 * An app's call to service `next` through its sidecar's outbound listener; `answered` gets the
 * status, body and headers of the answer, and a call that fails answers `res` 502 itself.
 */
export function callNext(res: http.ServerResponse, outbound: number, next: string, headers: Record<string, string>, answered: (status: number, body: string, answer: http.IncomingMessage) => void): void {
  const call = http.request({ host: '127.0.0.1', port: outbound, path: '/', headers: { ...headers, host: `${next}.default` } }, (answer) => {
    let body = '';
    answer.on('data', (c: Buffer) => (body += c.toString()));
    answer.on('end', () => answered(answer.statusCode ?? 502, body, answer));
  });
  call.on('error', () => res.writeHead(502).end());
  call.end();
}

/**
 * What a caller's outbound call goes through: metaroute (started with `config`), a `shop` app
 * registered with it that answers with the headers it received (JSON), and the sidecar of
 * web-0, an instance in lane dev1 whose `env` label is transitive (the agent's metaroute.transitive).
 */
export class CallerSidecar {
  private constructor(readonly metaroute: MetarouteProcess, private readonly envoy: EnvoyProcess, private readonly app: http.Server, private readonly outbound: number) {}

  static async start(config: Record<string, unknown> = {}, appOptions: http.ServerOptions = {}): Promise<CallerSidecar> {
    const metaroute = await MetarouteProcess.start(config);
    const app = await listenOnLoopback(http.createServer(appOptions, (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers));
    }));
    const registered = await api(metaroute.admin, 'POST', '/v1/instances', { service: 'shop', host: '127.0.0.1', port: app.port, ephemeral: false });
    if (registered.status >= 300) throw new Error(`registering shop: ${registered.status}`);
    const outbound = await freePort();
    const envoy = await EnvoyProcess.start(sidecarBootstrap(metaroute, 'web-0', { service: 'web', labels: 'env=dev1', transitive: 'env' }, { outbound, inbound: await freePort(), app: await freePort() }));
    const sidecar = new CallerSidecar(metaroute, envoy, app.server, outbound);
    await waitFor('shop to answer through the sidecar', async () => ((await sidecar.call({})).status === 200 ? true : undefined), 60_000);
    return sidecar;
  }

  /** A call to shop; `received` is what shop got (empty unless 200). */
  call(headers: Record<string, string>): Promise<{ status: number; received: Record<string, string> }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.outbound, path: '/', headers: { ...headers, host: 'shop.default' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, received: res.statusCode === 200 ? (JSON.parse(body) as Record<string, string>) : {} }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async stop(): Promise<void> {
    await this.envoy.stop();
    await this.metaroute.stop();
    await new Promise((r) => this.app.close(r));
  }
}
