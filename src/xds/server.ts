import * as grpc from '@grpc/grpc-js';
import type { Gauge, MetricsRegistry } from '../metrics/metrics';
import type { RuleSnapshot } from '../model/rule';
import type { RegistrySnapshot } from '../registry/service-view';
import { ResourceBuilder } from './builder';
import { ResourceCache } from './cache';
import { decodeSotwRequest, encodeSotwResources, encodeSotwResponse } from './codec';
import { DEFAULT_DEBOUNCE_MS, DEFAULT_MAX_DEBOUNCE_MS, Debouncer, type ChangedServices } from './debounce';
import { DeltaStream } from './delta';
import { ADS_SERVICE, CDS_SERVICE, EDS_SERVICE, serviceDefinition } from './services';
import { SotwStream } from './sotw';
import type { StreamContext, XdsCall, XdsStream } from './stream';
import { CDS, EDS, PUSH_ORDER, type ResourceType } from './types';

export interface XdsSources {
  /** From `Registry.snapshot()`. */
  registry(): RegistrySnapshot;
  rules(): RuleSnapshot;
  /** Keys the router chain may add to any decision (Router.labelKeys); none when absent. */
  routerKeys?(): readonly string[];
  /** The listener gets changed serviceKeys, or 'all' after a rules or router-config change; returns an unsubscribe. */
  subscribe(listener: (changed: ChangedServices) => void): () => void;
}

export interface XdsOptions {
  /** Quiet time after the last change before a push (default 20 ms). */
  readonly debounceMs?: number;
  /** Longest a change waits while changes keep coming (default 1000 ms). */
  readonly maxDebounceMs?: number;
  readonly metrics: MetricsRegistry;
  readonly log: (msg: string) => void;
}


/**
 * The xDS control plane: ADS (SotW and Delta) plus the standalone CDS and EDS services, all
 * served from one versioned cache that a debounced rebuild updates from the registry and rules.
 */
export class XdsServer {
  private readonly cache = new ResourceCache();
  private readonly builder: ResourceBuilder;
  private readonly debouncer: Debouncer;
  private readonly streams = new Set<XdsStream>();
  private readonly ctx: StreamContext;
  private readonly streamGauge: Gauge;
  private readonly unsubscribe: () => void;
  private nextStreamId = 0;
  private closed = false;

  constructor(
    private readonly sources: XdsSources,
    options: XdsOptions,
  ) {
    const { metrics, log } = options;
    this.ctx = {
      cache: this.cache,
      pushes: metrics.counter('metaroute_xds_pushes_total', 'xDS responses sent, by resource type', ['type']),
      nacks: metrics.counter('metaroute_xds_nacks_total', 'xDS responses rejected by a client, by resource type', ['type']),
      log,
    };
    this.streamGauge = metrics.gauge('metaroute_xds_streams', 'Open xDS streams');
    this.streamGauge.set(0);
    this.builder = new ResourceBuilder(this.cache, log);
    this.debouncer = new Debouncer(
      options.debounceMs ?? DEFAULT_DEBOUNCE_MS,
      options.maxDebounceMs ?? DEFAULT_MAX_DEBOUNCE_MS,
      (changed) => this.rebuild(changed),
    );
    this.rebuild('all');
    this.unsubscribe = sources.subscribe((changed) => this.debouncer.add(changed));
  }

  /** Adds the ADS, CDS and EDS services to `server`. */
  register(server: grpc.Server): void {
    server.addService(serviceDefinition(ADS_SERVICE), {
      StreamAggregatedResources: (call: XdsCall) => this.open(call, 'sotw', undefined),
      DeltaAggregatedResources: (call: XdsCall) => this.open(call, 'delta', undefined),
    });
    server.addService(serviceDefinition(CDS_SERVICE), {
      StreamClusters: (call: XdsCall) => this.open(call, 'sotw', CDS),
      DeltaClusters: (call: XdsCall) => this.open(call, 'delta', CDS),
      FetchClusters: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => this.fetch(CDS, call, done),
    });
    server.addService(serviceDefinition(EDS_SERVICE), {
      StreamEndpoints: (call: XdsCall) => this.open(call, 'sotw', EDS),
      DeltaEndpoints: (call: XdsCall) => this.open(call, 'delta', EDS),
      FetchEndpoints: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => this.fetch(EDS, call, done),
    });
  }

  /** Plain JSON: per type its version and resources (version null: not built, no stream asked for it yet); per stream its node, subscriptions, ACK and held NACK. */
  configDump(): unknown {
    const types: Record<string, unknown> = {};
    for (const type of PUSH_ORDER) {
      const resources = [...this.cache.entries(type)]
        .map((r) => ({ name: r.name, version: r.built ? r.version : null }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      types[type.short] = { type_url: type.url, version: this.cache.version(type), resources };
    }
    return { types, streams: [...this.streams].map((s) => s.dump()) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.debouncer.close();
    for (const stream of [...this.streams]) stream.close();
    this.streams.clear();
    this.streamGauge.set(0);
  }

  private open(call: XdsCall, protocol: 'sotw' | 'delta', only: ResourceType | undefined): void {
    if (this.closed) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'xDS server is shutting down' });
      return;
    }
    const onClose = (stream: XdsStream): void => {
      this.streams.delete(stream);
      this.streamGauge.set(this.streams.size);
    };
    const id = ++this.nextStreamId;
    const stream = protocol === 'sotw'
      ? new SotwStream(id, call, this.ctx, only, onClose)
      : new DeltaStream(id, call, this.ctx, only, onClose);
    this.streams.add(stream);
    this.streamGauge.set(this.streams.size);
  }

  private rebuild(changed: ChangedServices): void {
    if (this.closed) return;
    let changes;
    try {
      changes = this.builder.build(this.sources.registry(), this.sources.rules(), this.sources.routerKeys?.() ?? [], changed);
    } catch (err) {
      this.ctx.log(`xds: rebuilding resources failed, keeping the previous ones: ${(err as Error).stack ?? String(err)}`);
      return;
    }
    if (changes.size === 0) return;
    for (const stream of this.streams) stream.push(changes);
  }

  /** Unary Fetch*: the requested resources (all clusters for an empty CDS request) at the current version. */
  private fetch(type: ResourceType, call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>): void {
    try {
      const request = decodeSotwRequest(call.request);
      const names = request.resource_names;
      const wildcard = type.wildcardServesAll && (names.length === 0 || names.includes('*'));
      const body = wildcard ? this.cache.everything(type).body : encodeSotwResources(names.flatMap((n) => this.cache.get(type, n)?.any ?? []));
      done(null, encodeSotwResponse(this.cache.version(type), type.url, '', body));
    } catch (err) {
      done({ code: grpc.status.INVALID_ARGUMENT, details: `bad discovery request: ${(err as Error).message}` });
    }
  }
}
