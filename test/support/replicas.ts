import type { ServerConfig } from '../../src/config/config';
import { TYPE, XdsTestClient } from '../xds/helpers';
import { startApp } from './app';
import { ExtProcClient, lbLabels } from './extproc-client';

/** A metaroute replica (in this process) on etcd, under a prefix the test chooses. */
export function startReplica(endpoints: readonly string[], prefix: string, overrides: Partial<ServerConfig> = {}): ReturnType<typeof startApp> {
  return startApp({ store: { kind: 'etcd', endpoints, prefix, tls: undefined, auth: undefined, leaseSeconds: 2 }, ...overrides });
}

/** The labels a replica's ext_proc chooses for a request to `service` (undefined: no subset). */
export async function routedLabels(client: ExtProcClient, service: string): Promise<Record<string, string> | undefined> {
  return lbLabels(await client.request({ ':method': 'GET', ':path': '/', ':authority': service }));
}

export interface EdsPush {
  readonly at: number;
  /** `host:port` of every endpoint in the pushed ClusterLoadAssignment. */
  readonly endpoints: string[];
}

/**
 * An ADS (SotW) client subscribed to one cluster's endpoints, ACKing like Envoy and
 * recording every push. It (re)connects until the server is there, so it can wait for a
 * replica that is still starting.
 */
export class EdsRecorder {
  readonly pushes: EdsPush[] = [];
  private client: XdsTestClient | undefined;
  private closed = false;

  constructor(private readonly port: () => number, private readonly cluster: string) {
    void this.run();
  }

  get last(): EdsPush | undefined {
    return this.pushes[this.pushes.length - 1];
  }

  close(): void {
    this.closed = true;
    this.client?.close();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const c = new XdsTestClient(this.port(), 'sotw', 'ads');
      this.client = c;
      c.send({ node: { id: 'recorder' }, type_url: TYPE.EDS, resource_names: [this.cluster] });
      while (!this.closed && !c.status && !c.error) {
        let response;
        try {
          response = await c.next(500);
        } catch {
          continue;
        }
        const cla = response.resources.find((r) => r.name === this.cluster)?.message as { endpoints?: Array<{ lb_endpoints?: Array<{ endpoint: { address: { socket_address: { address: string; port_value: number } } } }> }> } | undefined;
        const endpoints = (cla?.endpoints ?? []).flatMap((l) => l.lb_endpoints ?? []).map((e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`).sort();
        this.pushes.push({ at: Date.now(), endpoints });
        c.ack(response, [this.cluster]);
      }
      c.close();
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
