import * as http from 'node:http';
import type * as net from 'node:net';
import { shippedBootstrap, substitutePorts } from './envoy';
import type { MetarouteProcess } from './metaroute-process';

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
