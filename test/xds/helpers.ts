import * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import { MetricsRegistry } from '../../src/metrics/metrics';
import type { Instance, Labels } from '../../src/model/instance';
import { serviceKey } from '../../src/model/instance';
import type { CompiledRule, CompiledSource, Destination, Failover, MetadataRoute, RuleSnapshot } from '../../src/model/rule';
import { envoyRoot } from '../../src/protos/root';
import { Registry } from '../../src/registry/registry';
import { XdsServer, type XdsSources } from '../../src/xds';
import { captureLogs } from '../support/logs';

export const TYPE = {
  CDS: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  EDS: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  LDS: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RDS: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const;

// ---------------------------------------------------------------- model builders

export function instance(service: string, port: number, over: Partial<Instance> = {}): Instance {
  return {
    id: `${service}-${port}`,
    service,
    namespace: 'default',
    host: '127.0.0.1',
    port,
    weight: 100,
    metadata: {},
    locality: {},
    healthy: true,
    ephemeral: false,
    ttlSeconds: 30,
    ...over,
  };
}

export function destination(labels: Labels, over: Partial<Destination> = {}): Destination {
  return { name: JSON.stringify(labels), labels, priority: 0, weight: 100, isolate: false, ...over };
}

export function source(service: string, namespace = 'default'): CompiledSource {
  return { service, namespace, arguments: [] };
}

export function rule(
  direction: 'inbound' | 'outbound',
  service: string,
  destinations: Destination[],
  over: { namespace?: string; sources?: CompiledSource[]; failover?: Failover; name?: string } = {},
): CompiledRule {
  return {
    name: over.name ?? `${direction}-${service}`,
    service,
    namespace: over.namespace ?? 'default',
    direction,
    sources: over.sources ?? [],
    priorityGroups: [destinations],
    destinations,
    failover: over.failover ?? { kind: 'all' },
  };
}

export function metadataRoute(service: string, keys: string[], over: Partial<MetadataRoute> = {}): MetadataRoute {
  return { service, namespace: 'default', keys, failover: 'all', mode: 'subset', from: 'request', ...over };
}

let ruleVersion = 0;

/** A RuleSnapshot by hand (src/rules/ is someone else's): rules are keyed by their own service. */
export function ruleSnapshot(rules: CompiledRule[] = [], routes: MetadataRoute[] = []): RuleSnapshot {
  const inbound = new Map<string, CompiledRule[]>();
  const outbound = new Map<string, CompiledRule[]>();
  for (const r of rules) {
    const map = r.direction === 'inbound' ? inbound : outbound;
    const key = serviceKey(r.namespace, r.service);
    map.set(key, [...(map.get(key) ?? []), r]);
  }
  return {
    version: ++ruleVersion,
    source: null,
    inbound,
    outbound,
    metadataRoutes: new Map(routes.map((m) => [serviceKey(m.namespace, m.service), m])),
  };
}

// ---------------------------------------------------------------- server under test

export interface Harness {
  readonly registry: Registry;
  readonly xds: XdsServer;
  readonly metrics: MetricsRegistry;
  readonly logs: string[];
  readonly port: number;
  setRules(rules: RuleSnapshot): void;
  close(): Promise<void>;
}

/** An XdsServer fed by a real Registry and hand-made rules, on 127.0.0.1 with an ephemeral port. */
export async function startXds(opts: { rules?: RuleSnapshot; debounceMs?: number; registry?: Registry } = {}): Promise<Harness> {
  const registry = opts.registry ?? new Registry();
  let rules = opts.rules ?? ruleSnapshot();
  const listeners = new Set<(changed: ReadonlySet<string> | 'all') => void>();
  const sources: XdsSources = {
    registry: () => registry.snapshot(),
    rules: () => rules,
    subscribe(listener) {
      listeners.add(listener);
      const off = registry.onChange(listener);
      return () => {
        listeners.delete(listener);
        off();
      };
    },
  };
  const metrics = new MetricsRegistry();
  const { logger, lines: logs } = captureLogs();
  const xds = new XdsServer(sources, { debounceMs: opts.debounceMs ?? 5, maxDebounceMs: 200, metrics, log: logger });
  const server = new grpc.Server();
  xds.register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    registry,
    xds,
    metrics,
    logs,
    port,
    setRules(next) {
      rules = next;
      for (const l of listeners) l('all');
    },
    async close() {
      xds.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
    },
  };
}

// ---------------------------------------------------------------- raw xDS client

const root = envoyRoot();
const DiscoveryRequest = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const DiscoveryResponse = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const DeltaRequest = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const DeltaResponse = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');

const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, defaults: false, oneofs: true };

export interface DecodedResource {
  readonly name: string;
  readonly version?: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly message: any;
  readonly bytes: Buffer;
}

export interface Response {
  readonly version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: DecodedResource[];
  readonly removed_resources: string[];
  readonly size: number;
}

export function decodeAny(any: { type_url: string; value: Uint8Array }): { name: string; message: unknown } {
  const type = root.lookupType(any.type_url.slice(any.type_url.lastIndexOf('/') + 1));
  const message = type.toObject(type.decode(any.value), TO_OBJECT) as { name?: string; cluster_name?: string };
  return { name: message.name ?? message.cluster_name ?? '', message };
}

type Path = 'ads' | 'cds' | 'eds';
const PATHS: Record<Path, { sotw: string; delta: string }> = {
  ads: {
    sotw: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
    delta: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
  },
  cds: { sotw: '/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters', delta: '/envoy.service.cluster.v3.ClusterDiscoveryService/DeltaClusters' },
  eds: { sotw: '/envoy.service.endpoint.v3.EndpointDiscoveryService/StreamEndpoints', delta: '/envoy.service.endpoint.v3.EndpointDiscoveryService/DeltaEndpoints' },
};

/** A hand-driven xDS stream: send requests as plain objects, await decoded responses. */
export class XdsTestClient {
  readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly queue: Response[] = [];
  private waiter: (() => void) | undefined;
  status: grpc.StatusObject | undefined;
  error: Error | undefined;

  constructor(
    port: number,
    readonly protocol: 'sotw' | 'delta' = 'sotw',
    path: Path = 'ads',
    connection: { credentials?: grpc.ChannelCredentials; metadata?: grpc.Metadata } = {},
  ) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, connection.credentials ?? grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    this.call = this.client.makeBidiStreamRequest(PATHS[path][protocol], (b: Buffer) => b, (b: Buffer) => b, connection.metadata ?? new grpc.Metadata());
    this.call.on('data', (bytes: Buffer) => {
      this.queue.push(this.decode(bytes));
      this.waiter?.();
    });
    this.call.on('status', (s) => {
      this.status = s;
      this.waiter?.();
    });
    this.call.on('error', (e) => {
      this.error = e;
      this.waiter?.();
    });
  }

  send(request: object): void {
    const type = this.protocol === 'sotw' ? DiscoveryRequest : DeltaRequest;
    this.call.write(Buffer.from(type.encode(type.fromObject(request)).finish()));
  }

  sendRaw(bytes: Buffer): void {
    this.call.write(bytes);
  }

  /** The next response, or throws after `timeoutMs`. */
  async next(timeoutMs = 2000): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0 || this.status) throw new Error(`no xDS response within ${timeoutMs} ms${this.status ? ` (stream ended: ${this.status.details})` : ''}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift()!;
  }

  /** Asserts that no response arrives within `ms`. */
  async none(ms = 150): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.queue.length > 0) {
      const r = this.queue[0]!;
      throw new Error(`unexpected response ${r.type_url} nonce ${r.nonce}: ${r.resources.map((x) => x.name).join(',')}`);
    }
  }

  /** SotW ACK of a response, with the subscription unchanged or replaced. */
  ack(response: Response, names: string[]): void {
    this.send({ type_url: response.type_url, version_info: response.version_info, response_nonce: response.nonce, resource_names: names });
  }

  /**
   * Reads and ACKs SotW responses until they have carried every name in `want`; returns them.
   * A resource the server builds in slices may come a response later than the rest (a busy
   * machine can stretch even a small build past one slice).
   */
  async ackUntil(want: string[], subscription: string[]): Promise<Response[]> {
    const seen = new Set<string>();
    const responses: Response[] = [];
    while (!want.every((n) => seen.has(n))) {
      const response = await this.next();
      responses.push(response);
      for (const n of names(response)) seen.add(n);
      this.ack(response, subscription);
    }
    return responses;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }

  private decode(bytes: Buffer): Response {
    if (this.protocol === 'sotw') {
      const m = DiscoveryResponse.decode(bytes) as unknown as {
        version_info: string; type_url: string; nonce: string; resources: { type_url: string; value: Uint8Array }[];
      };
      return {
        version_info: m.version_info,
        type_url: m.type_url,
        nonce: m.nonce,
        resources: m.resources.map((any) => ({ ...decodeAny(any), bytes: Buffer.from(any.value) })),
        removed_resources: [],
        size: bytes.length,
      };
    }
    const m = DeltaResponse.decode(bytes) as unknown as {
      system_version_info: string; type_url: string; nonce: string; removed_resources: string[];
      resources: { name: string; version: string; resource: { type_url: string; value: Uint8Array } }[];
    };
    return {
      version_info: m.system_version_info,
      type_url: m.type_url,
      nonce: m.nonce,
      resources: m.resources.map((r) => ({ name: r.name, version: r.version, message: decodeAny(r.resource).message, bytes: Buffer.from(r.resource.value) })),
      removed_resources: [...m.removed_resources],
      size: bytes.length,
    };
  }
}

export function names(response: Response): string[] {
  return response.resources.map((r) => r.name).sort();
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Dump = any;
