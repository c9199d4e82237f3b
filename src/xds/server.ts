import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger';
import type { Gauge, Histogram, MetricsRegistry } from '../metrics/metrics';
import type { RuleSnapshot } from '../model/rule';
import { resultInSlices, runInSlices, runToEnd, type Steps } from '../model/slices';
import type { RegistrySnapshot } from '../registry/service-view';
import { ResourceBuilder } from './builder';
import type { Chunks } from './chunks';
import { ResourceCache } from './cache';
import { anyJsonChunkSteps, decodeSotwRequest, encodeSotwResponse, sotwResourcesField } from './codec';
import { DEFAULT_DEBOUNCE_MS, DEFAULT_MAX_DEBOUNCE_MS, Debouncer, type ChangedServices } from './debounce';
import { DeltaStream } from './delta';
import { ADS_SERVICE, CDS_SERVICE, EDS_SERVICE, serviceDefinition } from './services';
import type { SelectorBasis } from './selectors';
import { SotwStream } from './sotw';
import type { StreamContext, XdsCall, XdsStream } from './stream';
import { CDS, EDS, PUSH_ORDER, SECTIONS, type Changes, type ResourceType } from './types';

export interface XdsSources {
  /** From `Registry.snapshot()`. */
  registry(): RegistrySnapshot;
  rules(): RuleSnapshot;
  /** Keys the router chain may add to any decision (Router.labelKeys); none when absent. */
  routerKeys?(): readonly string[];
  /** Selectors served beside the current ones while a change rolls out (make-before-break). */
  heldSelectors?(): readonly SelectorBasis[];
  /** The listener gets changed serviceKeys, or 'all' after a rules or router-config change; returns an unsubscribe. */
  subscribe(listener: (changed: ChangedServices) => void): () => void;
}

export interface XdsOptions {
  /** Quiet time after the last change before a push (default 20 ms). */
  readonly debounceMs?: number;
  /** Longest a change waits while changes keep coming (default 1000 ms). */
  readonly maxDebounceMs?: number;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
}


const NO_CHANGES: Changes = new Map();

function union(a: ChangedServices, b: ChangedServices): ChangedServices {
  return a === 'all' || b === 'all' ? 'all' : new Set([...a, ...b]);
}

/** The names changed by either of two passes, per type. */
function bothChanges(a: Changes, b: Changes): Changes {
  if (a.size === 0) return b;
  if (b.size === 0) return a;
  const merged = new Map<ResourceType, ReadonlySet<string>>(a);
  for (const [type, names] of b) merged.set(type, new Set([...(a.get(type) ?? []), ...names]));
  return merged;
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
  private readonly pushLatency: Histogram;
  /** Rollouts waiting for streams to converge: each re-checks the stream that answered or closed. */
  private readonly waiters = new Set<(stream: XdsStream) => void>();
  private readonly unsubscribe: () => void;
  /** The debounced pass under way (see `rebuildInSlices`), and the changes waiting for it to end. */
  private pass: { readonly steps: Steps<Changes>; readonly since: number } | undefined;
  private queued: { readonly changed: ChangedServices; readonly since: number } | undefined;
  private nextStreamId = 0;
  private closed = false;

  constructor(
    private readonly sources: XdsSources,
    options: XdsOptions,
  ) {
    const { metrics, log } = options;
    const types = PUSH_ORDER.map((type) => [type.short]);
    this.ctx = {
      cache: this.cache,
      pushes: metrics.counter('metaroute_xds_pushes_total', 'xDS responses sent, by resource type', ['type'], types),
      nacks: metrics.counter('metaroute_xds_nacks_total', 'xDS responses rejected by a client, by resource type', ['type'], types),
      convergence: metrics.histogram(
        'metaroute_xds_convergence_seconds',
        'From the creation of a resource version to the ACK of the response that delivered it, by resource type',
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        ['type'],
      ),
      log,
      onAnswer: (stream) => this.checkWaiters(stream),
    };
    this.streamGauge = metrics.gauge('metaroute_xds_streams', 'Open xDS streams');
    this.pushLatency = metrics.histogram('metaroute_xds_push_latency_seconds', 'Time from the first registry, rules or router-config change to the rebuild handing its push to every xDS stream (debounce included; a stream whose client has not answered its last response sends it later)', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
    this.streamGauge.set(0);
    this.builder = new ResourceBuilder(this.cache, log);
    this.debouncer = new Debouncer(
      options.debounceMs ?? DEFAULT_DEBOUNCE_MS,
      options.maxDebounceMs ?? DEFAULT_MAX_DEBOUNCE_MS,
      (changed, since) => this.rebuildInSlices(changed, since),
    );
    this.publish(this.settle(this.buildSteps('all')), Date.now());
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
      FetchClusters: (call: grpc.ServerUnaryCall<Buffer, Chunks>, done: grpc.sendUnaryData<Chunks>) => this.fetch(CDS, call, done),
    });
    server.addService(serviceDefinition(EDS_SERVICE), {
      StreamEndpoints: (call: XdsCall) => this.open(call, 'sotw', EDS),
      DeltaEndpoints: (call: XdsCall) => this.open(call, 'delta', EDS),
      FetchEndpoints: (call: grpc.ServerUnaryCall<Buffer, Chunks>, done: grpc.sendUnaryData<Chunks>) => this.fetch(EDS, call, done),
    });
  }

  /** Plain JSON: per type its version and resources (version null: not built, no stream asked for it yet); per stream its node, subscriptions, ACK and held NACK. */
  configDump(): unknown {
    const types: Record<string, unknown> = {};
    for (const type of PUSH_ORDER) {
      const resources = [...this.cache.entries(type)]
        .map((r) => ({ name: r.name, version: r.ready ? r.version : null }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      types[type.short] = { type_url: type.url, version: this.cache.version(type), resources };
    }
    return { types, streams: this.streamsDump() };
  }

  /** Each open stream: node, subscriptions, per type the last ACK and a held NACK. */
  streamsDump(): unknown[] {
    return [...this.streams].map((s) => s.dump());
  }

  /**
   * Rebuilds every service at once, without the debounce (a rollout's step); returns the names
   * that changed per type. A debounced pass under way is finished first, and its changes pushed
   * and returned too: one that had not taken its first step yet reads the sources now (a
   * rollout's held selectors among them), so what the rollout changed may be its changes alone.
   */
  rebuildNow(): Changes {
    if (this.closed) return NO_CHANGES;
    const underWay = this.pass;
    this.pass = this.queued = undefined;
    const finished = underWay ? this.publish(this.settle(underWay.steps), underWay.since) : NO_CHANGES;
    return bothChanges(finished, this.publish(this.settle(this.buildSteps('all')), Date.now()));
  }

  /**
   * Computes the subset policies of every service under `bases` in slices between event-loop
   * turns, so a rollout's `rebuildNow` with them held only merges and compares them.
   */
  async preparePolicies(bases: readonly SelectorBasis[]): Promise<void> {
    await runInSlices(this.builder.policySteps(this.sources.registry(), bases));
  }

  /**
   * Resolves once every stream that subscribes to any of `clusters` has ACKed their current
   * Cluster and, after it, their ClusterLoadAssignment (Envoy warms a changed cluster until
   * its CLA arrives); or after `timeoutMs`, with the node ids of the streams that have not.
   */
  awaitClusters(clusters: readonly string[], timeoutMs: number): Promise<string[]> {
    const holdsAll = (s: XdsStream): boolean => !this.streams.has(s) || [CDS, EDS].every((type) => s.typeState(type)?.holds(clusters, this.cache) ?? true);
    // Streams opened meanwhile get both old and new selectors in their first response anyway.
    const pending = new Set([...this.streams].filter((s) => !holdsAll(s)));
    if (pending.size === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve([...pending].map((s) => s.node?.id || `stream ${s.id}`));
      };
      const check = (stream: XdsStream): void => {
        if (pending.has(stream) && holdsAll(stream)) pending.delete(stream);
        if (pending.size === 0) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Whether a resource of that name is served (`section` as for `resource`), without building or converting it. */
  serves(section: string, name: string): boolean {
    const type = SECTIONS[section];
    return type !== undefined && this.cache.get(type, name) !== undefined;
  }

  /**
   * One served resource (`section`: clusters, endpoints, listeners, routes) as chunks of JSON
   * text in Envoy's JSON mapping, or undefined when none has that name. Built (if no stream has asked
   * for it yet) and converted in slices: a large ClusterLoadAssignment would hold the loop for seconds.
   */
  async resource(section: string, name: string): Promise<{ type_url: string; version: string; resourceJson: string[] } | undefined> {
    const type = SECTIONS[section];
    if (!type || !this.serves(section, name)) return undefined;
    await this.cache.prepare(type, name);
    // The newest finished version: under churn a newer one may have started building meanwhile.
    const cached = this.cache.servable(type, name);
    if (!cached) return undefined;
    cached.hold();
    try {
      return { type_url: type.url, version: cached.version, resourceJson: await resultInSlices(anyJsonChunkSteps(cached.any)) };
    } finally {
      cached.release();
    }
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
      this.checkWaiters(stream);
    };
    const id = ++this.nextStreamId;
    const stream = protocol === 'sotw'
      ? new SotwStream(id, call, this.ctx, only, onClose)
      : new DeltaStream(id, call, this.ctx, only, onClose);
    this.streams.add(stream);
    this.streamGauge.set(this.streams.size);
    this.ctx.log.info({ event: 'xds.connected', stream: id, protocol, only: only?.short, peer: call.getPeer() }, 'xds stream opened');
  }

  /**
   * A debounced pass, in slices between event-loop turns (one batch call can change thousands of
   * services); changes arriving meanwhile wait for it to end, then make the next pass.
   */
  private rebuildInSlices(changed: ChangedServices, since: number): void {
    if (this.closed) return;
    if (this.pass) {
      this.queued = this.queued ? { changed: union(this.queued.changed, changed), since: this.queued.since } : { changed, since };
      return;
    }
    const pass = { steps: this.buildSteps(changed), since };
    this.pass = pass;
    const done = (changes: Changes): void => {
      if (this.pass !== pass) return; // `rebuildNow` finished it and pushed its changes
      this.pass = undefined;
      this.publish(changes, since);
      const next = this.queued;
      this.queued = undefined;
      if (next) this.rebuildInSlices(next.changed, next.since);
    };
    resultInSlices(pass.steps).then(done, (err: unknown) => done(this.failed(err)));
  }

  /** A pass over `changed`, reading the sources at its first step; one under way when the server closes stops at its next step. */
  private *buildSteps(changed: ChangedServices): Steps<Changes> {
    const sources = this.sources;
    const steps = this.builder.buildSteps(sources.registry(), sources.rules(), sources.routerKeys?.() ?? [], changed, sources.heldSelectors?.());
    for (;;) {
      if (this.closed) return NO_CHANGES;
      const next = steps.next();
      if (next.done) return next.value;
      yield;
    }
  }

  /** The changes of a pass run to the end now; none if it failed (what it changed before stays in the cache, unpushed). */
  private settle(steps: Steps<Changes>): Changes {
    try {
      return runToEnd(steps);
    } catch (err) {
      return this.failed(err);
    }
  }

  private failed(err: unknown): Changes {
    this.ctx.log.error({ event: 'xds.rebuild.failed', err }, 'xds: rebuilding resources failed, keeping the previous ones');
    return NO_CHANGES;
  }

  /** Tells every stream what changed. */
  private publish(changes: Changes, since: number): Changes {
    if (this.closed || changes.size === 0) return changes;
    for (const stream of this.streams) stream.push(changes);
    this.pushLatency.observe((Date.now() - since) / 1000);
    return changes;
  }

  private checkWaiters(stream: XdsStream): void {
    for (const check of [...this.waiters]) check(stream);
  }

  /** Unary Fetch*: the requested resources (all clusters for an empty CDS request) at the current version. */
  private fetch(type: ResourceType, call: grpc.ServerUnaryCall<Buffer, Chunks>, done: grpc.sendUnaryData<Chunks>): void {
    try {
      const request = decodeSotwRequest(call.request);
      const names = request.resource_names;
      const wildcard = type.wildcardServesAll && (names.length === 0 || names.includes('*'));
      const body = wildcard ? this.cache.everything(type).body : sotwResourcesField(names.flatMap((n) => this.cache.get(type, n)?.any ?? []));
      // No hold on the resources: grpc-js serializes a unary answer within `done`, before another build can reuse their bytes.
      done(null, encodeSotwResponse(this.cache.version(type), type.url, '', body));
    } catch (err) {
      done({ code: grpc.status.INVALID_ARGUMENT, details: `bad discovery request: ${(err as Error).message}` });
    }
  }
}
