import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger';
import type { Counter, Histogram } from '../metrics/metrics';
import type { CachedResource, ResourceCache } from './cache';
import { resultInSlices, runToEnd, type Steps } from '../model/slices';
import type { Chunks } from './chunks';
import type { ErrorDetail, NodeInfo } from './codec';
import { CDS, EDS, PUSH_ORDER, typeByUrl, type Changes, type ResourceType } from './types';

export interface StreamContext {
  readonly cache: ResourceCache;
  readonly pushes: Counter;
  readonly nacks: Counter;
  /** Seconds from a resource version's creation to the ACK of the response carrying it, by type. */
  readonly convergence: Histogram;
  readonly log: Logger;
  /** Told after every flush (an ACK, NACK, push or finished build may have changed what the client holds): rollouts wait for convergence. */
  readonly onAnswer: (stream: XdsStream) => void;
}

export type XdsCall = grpc.ServerDuplexStream<Buffer, Chunks>;

/** What one response of a type carried, kept to describe a NACK of it. */
export interface SentRecord {
  readonly nonce: string;
  readonly version: string;
  readonly resources: readonly CachedResource[];
  readonly removed: readonly string[];
  /** Creation time of the oldest change this response delivers (performance.now()). */
  readonly changedSince: number;
}

interface AckRecord {
  readonly version: string;
  readonly nonce: string;
  readonly at: string;
  /** From the creation of the oldest change it delivered to this ACK. */
  readonly convergedMs: number;
}

interface NackRecord extends Omit<AckRecord, 'convergedMs'> {
  readonly error: ErrorDetail;
  /** Resource versions of the rejected response: held, never resent; the client keeps its last good ones. */
  readonly resources: Readonly<Record<string, string>>;
  readonly removed: readonly string[];
}

/** The subscription and delivery state of one resource type on one stream. */
export class TypeState {
  wildcard = false;
  /** SotW only: an initial request without names makes LDS/CDS wildcard, until a request names resources without `*`. */
  legacyWildcard = false;
  readonly names = new Set<string>();
  /** Resource versions the client was sent (ACKed or not), by name. */
  readonly sent = new Map<string, string>();
  /** Names this stream waits on while the cache builds them in slices. */
  readonly preparing = new Set<string>();
  /** Names to re-check on the next flush (a push or a forced resend). */
  pending = new Set<string>();
  /** Names to send on the next flush even if the client holds the current version. */
  resend = new Set<string>();
  /** Re-check every candidate (a new state, or its wildcard changed: see `want`; names that come or go are `reconsider`ed alone). */
  dirty = true;
  /** Names were subscribed or unsubscribed since the last response (see `reconsider`). */
  resubscribed = false;
  /**
   * SotW CDS / LDS by name: names it was not sent were added since the last response, which is then due even if
   * nothing it carries changed: a full-state response without a name tells the client it does
   * not exist, sooner than its initial fetch timeout would (15 s for a gRPC client).
   */
  namedSinceResponse = false;
  /** A response's diff over many names is under way in slices (`XdsStream.respond`): the next waits for it. */
  computing = false;
  responded = false;
  /** Nonce of the newest response of this type: a request echoing another one is stale (SotW). */
  lastNonce = '';
  lastSent: SentRecord | undefined;
  /** Nonces of responses of this type neither ACKed nor NACKed yet. */
  readonly awaiting = new Set<string>();
  /** When the newest response was written (performance.now()), and its bytes. */
  sentAt = 0;
  sentBytes = 0;
  /** No response of this type before then, but for new subscriptions and resends (see `rests`). */
  restUntil = 0;
  /**
   * When the client started to want what the next response carries (a subscription, a CLA
   * resent after its cluster changed): convergence is timed from then, or from the version's
   * creation if that is later, never from a version's age alone.
   */
  wantedSince = performance.now();
  lastAck: AckRecord | undefined;
  nack: NackRecord | undefined;

  constructor(readonly type: ResourceType) {}

  interested(name: string): boolean {
    return this.names.has(name) || this.servesAll();
  }

  /** The wildcard changed (or the state is new): re-check every candidate, and time convergence from now. */
  want(): void {
    this.dirty = true;
    this.wantedSince ||= performance.now();
  }

  /**
   * `name` was subscribed or unsubscribed: re-check it alone, not every candidate (Envoy's EDS
   * subscription grows by a request per batch of new clusters: at 12,000 names, re-checking
   * them all held the loop about 5 ms per request). The next response does not rest, as after `want`.
   */
  reconsider(name: string): void {
    this.pending.add(name);
    // A client forgets what it no longer subscribes to: subscribed again (before a diff looked at
    // it, e.g. while a response was unanswered), it must be sent again.
    if (!this.interested(name)) this.sent.delete(name);
    this.resubscribed = true;
    this.wantedSince ||= performance.now();
  }

  /**
   * The wildcard that served every resource ended: the client forgets what it held by it alone,
   * as after `reconsider`, so a wildcard subscribed again before a diff looked at those names
   * resends them. Call once the request's names are in `names`.
   */
  forgetWildcardOnly(): void {
    for (const name of this.sent.keys()) if (!this.names.has(name)) this.sent.delete(name);
  }

  servesAll(): boolean {
    return this.wildcard && this.type.wildcardServesAll;
  }

  /**
   * True while the next response is to wait out `restUntil`: only updates of what the client
   * holds rest. A new subscription by name or a resend goes out at once, also when its first
   * version was still building at the request and comes back as pending once built (but not
   * while nothing of it is ready: it would let the rest's held updates out). New resources
   * under a wildcard rest like updates.
   */
  rests(now: number, cache: ResourceCache): boolean {
    if (this.restUntil <= now || this.dirty || this.resubscribed || this.resend.size > 0) return false;
    for (const name of this.pending) {
      if (this.names.has(name) && !this.sent.has(name) && cache.servable(this.type, name)) return false;
    }
    return true;
  }

  /**
   * True when the client holds (has ACKed) the cache's current version of every one of
   * `names` it subscribes to: nothing is in flight or rejected, and what it was sent is current.
   */
  holds(names: readonly string[], cache: ResourceCache): boolean {
    const wanted = names.filter((name) => this.interested(name) || this.sent.has(name));
    if (wanted.length === 0) return true;
    // A response of this type in flight may carry one of them; SotW's ACK of the newest settles all.
    if (this.awaiting.size > 0 || this.computing || this.dirty || this.pending.size > 0) return false;
    for (const name of wanted) {
      const current = cache.get(this.type, name);
      // A version still building is held by nobody (asking its version would build it now, on the loop).
      if (current && !current.ready) return false;
      if (this.sent.get(name) !== current?.version) return false;
      if (this.nack && name in this.nack.resources) return false;
    }
    return true;
  }
}

export interface Diff {
  readonly upserts: CachedResource[];
  readonly removed: string[];
}

/** Names a response's diff looks at per step, and from how many it runs in slices (a few µs each). */
const NAMES_PER_STEP = 256;
const SLICED_DIFF_FROM = 1024;

/** The names a response looks at, and which of them to send even if current. */
interface Work {
  readonly candidates: ReadonlySet<string>;
  readonly resend: ReadonlySet<string>;
  /** The candidates are every name (the state was dirty: new, or its wildcard changed), not only the pending ones. */
  readonly all: boolean;
}

/** Takes the state's pending names (every candidate, if dirty) and resends: those arriving meanwhile start over. */
function takeWork(state: TypeState, cache: ResourceCache): Work {
  let candidates = state.pending;
  if (state.dirty) {
    candidates = new Set([...state.sent.keys(), ...state.names]);
    if (state.servesAll()) for (const entry of cache.entries(state.type)) candidates.add(entry.name);
  }
  const resend = state.resend;
  const all = state.dirty;
  state.pending = new Set();
  state.resend = new Set();
  state.dirty = state.resubscribed = false;
  return { candidates, resend, all };
}

/** Gives the state back what `takeWork` took, beside what arrived since: a response whose diff failed sent none of it. */
function putBack(state: TypeState, { candidates, resend, all }: Work): void {
  if (all) state.dirty = true;
  else for (const name of candidates) state.pending.add(name);
  for (const name of resend) state.resend.add(name);
}

/** The maximum number of distinct unknown type URLs remembered per stream (for logging once each). */
const MAX_UNKNOWN_TYPES = 16;

/**
 * One xDS stream (ADS or a single-type service), SotW or Delta. Responses are computed from
 * what the client was sent and the cache at the moment of sending, one per type in flight: a
 * push that finds the last response of its type not yet ACKed is only remembered (dirty /
 * pending) and recomputed when the ACK comes, so a client that stops reading holds at most one
 * response per type, never a queue.
 */
export abstract class XdsStream {
  readonly openedAt = new Date().toISOString();
  node: NodeInfo | undefined;
  protected readonly states = new Map<ResourceType, TypeState>();
  private readonly unknownTypes = new Set<string>();
  /** Responses sent: also the nonce counter. */
  private responses = 0;
  private closed = false;
  /** Set while a request is handled in slices: the requests that arrived meanwhile, to handle after it. */
  private waiting: Buffer[] | undefined;
  /** Set while a type rests after an answer with changes waiting (see `flush`), to fire at `restTimerAt`. */
  private restTimer: NodeJS.Timeout | undefined;
  private restTimerAt = Infinity;

  constructor(
    readonly id: number,
    protected readonly call: XdsCall,
    protected readonly ctx: StreamContext,
    /** Set for the standalone CDS / EDS services: the only type the stream serves. */
    private readonly only: ResourceType | undefined,
    private readonly onClose: (stream: XdsStream) => void,
  ) {
    call.on('data', (bytes: Buffer) => this.receive(bytes));
    call.on('end', () => this.end());
    call.on('error', () => this.cleanup());
    call.on('cancelled', () => this.cleanup());
    call.on('close', () => this.cleanup());
  }

  abstract readonly protocol: 'sotw' | 'delta';

  /**
   * Decodes and handles one request; throws on a malformed message. Steps, if it returns them,
   * that yield go on in slices (a request naming thousands of resources anew), later requests
   * and responses waiting for them.
   */
  protected abstract handle(bytes: Buffer): Steps<void> | void;

  /** Sends the response of one type that `diff` asks for, if the client lacks anything. */
  protected abstract send(state: TypeState, diff: Diff): void;

  /** Called by the server after a rebuild: re-checks the changed names this stream cares about. */
  push(changes: Changes): void {
    for (const [type, names] of changes) {
      const state = this.states.get(type);
      if (!state) continue;
      for (const name of names) if (state.interested(name) || state.sent.has(name)) state.pending.add(name);
    }
    this.flush();
  }

  /** Ends the stream from the server side (shutdown). */
  close(): void {
    if (this.closed) return;
    this.endCall();
    this.cleanup();
  }

  dump(): unknown {
    const types: Record<string, unknown> = {};
    for (const [type, state] of this.states) {
      types[type.short] = {
        type_url: type.url,
        wildcard: state.wildcard,
        subscriptions: [...state.names].sort(),
        // A wildcard stream holds (nearly) every resource of the type: list them only by count.
        ...(state.servesAll() ? { sent_count: state.sent.size } : { sent: Object.fromEntries(state.sent) }),
        last_nonce: state.lastNonce,
        // The response the client has not answered yet: changes of this type wait for its ACK or NACK.
        awaiting_ack: state.awaiting.values().next().value ?? null,
        // The next response's diff, over many names, is under way in slices.
        computing_response: state.computing,
        last_ack: state.lastAck ?? null,
        nack: state.nack ?? null,
      };
    }
    return {
      id: this.id,
      protocol: this.protocol,
      service: this.only?.short ?? 'ads',
      peer: this.call.getPeer(),
      node: this.node ?? null,
      opened_at: this.openedAt,
      responses_sent: this.responses,
      unknown_type_urls: [...this.unknownTypes],
      types,
    };
  }

  /**
   * Sends what each type lacks, one response per type in flight: the next waits for the
   * client's ACK or NACK of the last and carries the newest versions then. After a large
   * response (REST_FROM_BYTES) it also waits as long again as the client took to answer (at most
   * MAX_REST_MS), unless it brings new subscriptions or resends. A client slower than the
   * changes (Envoy 1.40 here spends 1.3–2.0 s of CPU on each 100,000-endpoint assignment) gets
   * fewer, newer responses instead of a queue of stale ones, and keeps about half its main
   * thread for everything else. Types go out in PUSH_ORDER within one flush, but one waiting for
   * an answer holds back no other: Envoy answers a CDS response that adds or changes a cluster
   * only once it has that cluster's CLA (it pauses CDS while the cluster warms), so EDS waiting
   * behind a second CDS change stalled it until its 15 s initial fetch timeout. A CLA may thus
   * reach Envoy before a Cluster change still waiting; it is sent again after that Cluster
   * (`resendAssignments`). A resting type holds only updates of what the client has.
   */
  protected flush(): void {
    if (this.waiting) return; // a request is handled in slices: its end flushes
    const now = performance.now();
    for (const type of PUSH_ORDER) {
      if (this.closed) return;
      const state = this.states.get(type);
      if (!state || !(state.dirty || state.pending.size > 0) || state.awaiting.size > 0 || state.computing) continue;
      if (state.rests(now, this.ctx.cache)) this.wakeAt(state.restUntil, now);
      else this.respond(state);
    }
    // After the flush, not at the answer: changes held until then may turn out current and send nothing.
    this.ctx.onAnswer(this);
  }

  /** Flushes again at `at` (the earliest of the rests asked for). */
  private wakeAt(at: number, now: number): void {
    if (at >= this.restTimerAt) return;
    clearTimeout(this.restTimer);
    this.restTimerAt = at;
    this.restTimer = setTimeout(() => {
      this.restTimer = undefined;
      this.restTimerAt = Infinity;
      this.flush();
    }, at - now);
  }

  /** The resource type a request names, or undefined (logged once) for one this stream does not serve. */
  protected resolve(typeUrl: string): ResourceType | undefined {
    if (this.only && (typeUrl === '' || typeUrl === this.only.url)) return this.only;
    const type = this.only ? undefined : typeByUrl(typeUrl);
    if (!type && !this.unknownTypes.has(typeUrl) && this.unknownTypes.size < MAX_UNKNOWN_TYPES) {
      this.unknownTypes.add(typeUrl);
      this.ctx.log.warn({ event: 'xds.type.unserved', stream: this.id, node: this.nodeId(), typeUrl }, 'xds: a stream asked for a type metaroute does not serve; ignored');
    }
    return type;
  }

  /** The state of `type`, created on the first request for it. */
  protected stateFor(type: ResourceType): { state: TypeState; first: boolean } {
    const existing = this.states.get(type);
    if (existing) return { state: existing, first: false };
    const state = new TypeState(type);
    this.states.set(type, state);
    return { state, first: true };
  }

  protected noteNode(node: NodeInfo | null | undefined): void {
    // Only the first request surely carries the node; later ones may omit it.
    if (node && !this.node) this.node = { id: node.id, cluster: node.cluster, user_agent_name: node.user_agent_name };
  }

  /**
   * Computes and sends the response of one type. A diff over many names (thousands of clusters
   * changed by one registration batch) runs in slices first, the type waiting for it as for an
   * answer; names and resends arriving meanwhile go to the next response.
   */
  private respond(state: TypeState): void {
    const work = takeWork(state, this.ctx.cache);
    const bodyWork = this.bodySteps(state);
    const steps = this.diffSteps(state, work, bodyWork);
    if (work.candidates.size < SLICED_DIFF_FROM && !bodyWork) {
      this.sendHeld(state, runToEnd(steps));
      return;
    }
    state.computing = true;
    resultInSlices(steps).then(
      (diff) => {
        state.computing = false;
        if (this.waiting) {
          // A request handled in slices has its subscription half changed: sent now, this response
          // would carry part of it (a full-state one, a name not yet added as gone). Its end
          // flushes, and this work is looked at again then.
          for (const resource of diff.upserts) resource.release();
          putBack(state, work);
          return;
        }
        this.sendHeld(state, diff);
        if (!this.closed) this.flush();
      },
      (error: Error) => {
        state.computing = false;
        putBack(state, work); // looked at again with the next request or change
        this.ctx.log.error({ event: 'xds.diff.failed', stream: this.id, type: state.type.short, err: error }, 'xds: computing a response failed');
      },
    ).catch((error: Error) => this.fail(error)); // sending it failed: this stream ends, the process goes on
  }

  /** Work the response's body needs before `send` (a shared body to bring up to date), to run in slices with its diff; none by default. */
  protected bodySteps(_state: TypeState): Steps<void> | undefined {
    return undefined;
  }

  /** Sends what `diff` holds (see `diffSteps`), then lets go of it. */
  private sendHeld(state: TypeState, diff: Diff): void {
    try {
      if (!this.closed) this.send(state, diff);
    } finally {
      for (const resource of diff.upserts) resource.release();
    }
  }

  /**
   * What the client lacks of `work`: resources it should hold at another version (each held
   * until sent: the diff may span turns, in which the cache retires versions), and ones gone
   * since it got them; then `bodyWork`, if any. Steps that throw let go of what they held.
   */
  private *diffSteps(state: TypeState, work: Work, bodyWork: Steps<void> | undefined): Steps<Diff> {
    const upserts: CachedResource[] = [];
    try {
      const diff = yield* this.diffHolding(state, work, upserts);
      if (bodyWork) yield* bodyWork;
      return diff;
    } catch (error) {
      for (const resource of upserts) resource.release();
      throw error;
    }
  }

  /** `diffSteps`' work: `upserts` gathers the resources it holds. */
  private *diffHolding(state: TypeState, { candidates, resend }: Work, upserts: CachedResource[]): Steps<Diff> {
    const cache = this.ctx.cache;
    const removed: string[] = [];
    const consider = (name: string, entry: CachedResource | undefined): void => {
      if (entry && (state.sent.get(name) !== entry.version || resend.has(name))) {
        entry.hold();
        upserts.push(entry);
      } else if (!entry && resend.has(name)) {
        state.resend.add(name); // nothing ready to resend yet: once the current one is
      }
    };
    let unready: string[] = [];
    const prepareUnready = (): void => {
      // Builds that fit in this turn's slice budget are ready now, and go out with this response.
      this.prepare(state, unready);
      for (const name of unready) consider(name, cache.servable(state.type, name));
      unready = [];
    };
    let inStep = 0;
    for (const name of candidates) {
      if (++inStep === NAMES_PER_STEP) {
        inStep = 0;
        if (unready.length > 0) prepareUnready();
        yield;
      }
      if (!state.interested(name)) {
        // Unsubscribed: the client drops it itself; forget it so a new subscription resends it.
        state.sent.delete(name);
        continue;
      }
      const current = cache.get(state.type, name);
      if (!current) {
        if (state.sent.has(name)) removed.push(name);
      } else if (current.ready) consider(name, current);
      else unready.push(name);
    }
    if (unready.length > 0) prepareUnready();
    return { upserts, removed };
  }

  /**
   * Has the cache build resources in slices (see model/slices.ts) while the stream goes on;
   * once builds end, re-checks their names (a newer version may need building in turn), and
   * tells rollouts waiting on this stream (it may hold the versions already).
   */
  private prepare(state: TypeState, names: readonly string[]): void {
    const fresh = names.filter((name) => !state.preparing.has(name));
    for (const name of fresh) state.preparing.add(name);
    this.ctx.cache.prepareAll(state.type, fresh, (ended, failures) => {
      for (const { name, error } of failures) {
        state.preparing.delete(name); // not re-checked: a build that failed fails again until the resource changes
        this.ctx.log.error({ event: 'xds.build.failed', type: state.type.short, resource: name, err: error }, 'xds: building a resource failed; streams keep its last good version');
      }
      for (const name of ended) state.preparing.delete(name);
      if (this.closed) return;
      for (const name of ended) state.pending.add(name);
      this.flush();
    });
  }

  /**
   * Records what a response carries as sent, and sends it. `referenced`: the resources whose
   * bytes the response points to, held from reuse until grpc-js has serialized it. `updated`:
   * those of its resources the client may hold at another version (a wildcard CDS response
   * carries every cluster, but the client was sent the same version of all but those in the
   * body's changed parts: recording 12,000 of them took about 4 ms per response).
   */
  protected commit(state: TypeState, record: SentRecord, response: Chunks, { referenced = record.resources, updated = record.resources }: { referenced?: readonly CachedResource[]; updated?: readonly CachedResource[] } = {}): void {
    const changedClusters: string[] = [];
    for (const name of record.removed) state.sent.delete(name);
    for (const resource of updated) {
      const before = state.sent.get(resource.name);
      if (before === resource.version) continue;
      if (state.type === CDS && before !== undefined) changedClusters.push(resource.name);
      state.sent.set(resource.name, resource.version);
    }
    let sentBytes = 0;
    for (const chunk of response) sentBytes += chunk.length;
    state.responded = true;
    state.lastNonce = record.nonce;
    state.lastSent = record;
    state.awaiting.add(record.nonce);
    state.sentAt = performance.now();
    state.sentBytes = sentBytes;
    this.ctx.pushes.inc([state.type.short]);
    // Queued behind a write still going out, the response references the cached bytes until grpc-js serializes it.
    for (const resource of referenced) resource.hold();
    this.call.write(response, () => {
      for (const resource of referenced) resource.release();
    });
    if (changedClusters.length > 0) this.resendAssignments(changedClusters);
  }

  protected nextNonce(): string {
    return (++this.responses).toString(36);
  }

  /** `record` is the response the ACK names; SotW ACKs the newest only, so older ones are settled with it. */
  protected recordAck(state: TypeState, version: string, record: SentRecord, settlesOlder: boolean): void {
    // Answered before: a SotW request repeats the last nonce with each subscription change.
    if (!state.awaiting.has(record.nonce)) return;
    const seconds = (performance.now() - record.changedSince) / 1000;
    state.lastAck = { version, nonce: record.nonce, at: new Date().toISOString(), convergedMs: Math.round(seconds * 1000) };
    if (settlesOlder) state.awaiting.clear();
    else state.awaiting.delete(record.nonce);
    restAfterAnswer(state);
    // A newer response was accepted: the rejected version is no longer what the client holds back.
    if (state.nack && state.nack.nonce !== record.nonce) state.nack = undefined;
    if (record.resources.length > 0 || record.removed.length > 0) this.ctx.convergence.observe(seconds, [state.type.short]);
  }

  protected recordNack(state: TypeState, sent: SentRecord | undefined, nonce: string, error: ErrorDetail): void {
    if (!state.awaiting.delete(nonce)) return; // answered before: the same NACK repeated with a subscription change
    restAfterAnswer(state);
    const resources: Record<string, string> = {};
    for (const r of sent?.resources ?? []) resources[r.name] = r.version;
    state.nack = {
      version: sent?.version ?? '',
      nonce,
      at: new Date().toISOString(),
      error: { code: error.code, message: error.message },
      resources,
      removed: sent?.removed ?? [],
    };
    this.ctx.nacks.inc([state.type.short]);
    this.ctx.log.warn({ event: 'xds.nack', stream: this.id, node: this.nodeId(), type: state.type.short, version: state.nack.version, resources: Object.keys(resources).slice(0, 5), error: error.message }, 'xds: NACK; holding the rejected version until the resources change');
  }

  /** The client's state of `type`, if it asked for that type. */
  typeState(type: ResourceType): TypeState | undefined {
    return this.states.get(type);
  }

  protected nodeId(): string {
    return this.node?.id || this.call.getPeer();
  }

  /**
   * A changed cluster makes Envoy re-warm it and wait for its ClusterLoadAssignment, which an
   * unchanged CLA would never bring (go-control-plane#245): resend the CLA after the cluster.
   */
  private resendAssignments(clusters: readonly string[]): void {
    const eds = this.states.get(EDS);
    if (!eds) return;
    eds.wantedSince ||= performance.now();
    for (const name of clusters) {
      if (!eds.interested(name)) continue;
      eds.resend.add(name);
      eds.pending.add(name);
    }
  }

  private receive(bytes: Buffer): void {
    if (this.closed) return;
    if (this.waiting) this.waiting.push(bytes);
    else this.handleOne(bytes);
  }

  /** Handles a request at once, or starts its steps in slices if they yield (true; `waiting` is set until they end). */
  private handleOne(bytes: Buffer): boolean {
    try {
      const steps = this.handle(bytes);
      if (!steps || steps.next().done) return false;
      this.waiting = [];
      // What throws after the steps (the requests that waited, the flush) ends the stream as it would at once.
      resultInSlices(steps)
        .then(() => this.handledInSlices())
        .catch((err: Error) => this.refuse(err));
      return true;
    } catch (err) {
      this.refuse(err as Error);
      return false;
    }
  }

  /** A request handled in slices is done: handle the requests that waited, in order, then respond. */
  private handledInSlices(): void {
    const waiting = this.waiting ?? [];
    this.waiting = undefined;
    while (waiting.length > 0 && !this.closed) {
      if (this.handleOne(waiting.shift()!)) {
        this.waiting!.push(...waiting); // that one goes on in slices: the rest wait behind it
        return;
      }
    }
    if (!this.closed) this.flush();
  }

  /** What failed in this stream's own work ends it alone (logged; the client reconnects). */
  private fail(err: Error): void {
    if (this.closed) return;
    this.ctx.log.error({ event: 'xds.stream.failed', stream: this.id, node: this.nodeId(), err }, 'xds: a response failed; ending the stream');
    this.endWith(grpc.status.INTERNAL, 'the control plane failed to send a response');
  }

  /** A malformed request ends this stream only. */
  private refuse(err: Error): void {
    if (this.closed) return;
    this.ctx.log.warn({ event: 'xds.request.bad', stream: this.id, node: this.nodeId(), error: err.message }, 'xds: bad request; ending the stream');
    this.endWith(grpc.status.INVALID_ARGUMENT, `bad discovery request: ${err.message}`);
  }

  private endWith(code: grpc.status, details: string): void {
    this.call.emit('error', { code, details });
    this.cleanup();
  }

  /** The client half-closed: finish our side too. */
  private end(): void {
    if (!this.closed) this.endCall();
    this.cleanup();
  }

  private endCall(): void {
    if (!this.call.destroyed && !this.call.writableEnded) this.call.end();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restTimer);
    this.ctx.log.info({ event: 'xds.disconnected', stream: this.id, protocol: this.protocol, node: this.nodeId() }, 'xds stream closed');
    this.onClose(this);
  }
}

/** Responses carrying this many bytes of resources or more earn a rest after their answer (1,000 endpoints take about 80 KB). */
const REST_FROM_BYTES = 1024 * 1024;
/** The longest a type rests after the client answered (a client that took a minute gets new changes after 5 s). */
const MAX_REST_MS = 5000;

/**
 * The client answered the newest response: after a large one, the next waits as long as that
 * answer took. A small one (a new subscription sent during a rest) leaves the rest earned before.
 */
function restAfterAnswer(state: TypeState): void {
  const now = performance.now();
  if (state.sentBytes >= REST_FROM_BYTES) state.restUntil = now + Math.min(now - state.sentAt, MAX_REST_MS);
}

/**
 * Where a response's convergence time starts: the creation of the oldest version it carries,
 * or when the client came to want it if that is later (a new subscription, a resend); now, for
 * a response that only removes. Resets the state's `wantedSince`.
 */
export function changedSince(state: TypeState, resources: readonly CachedResource[]): number {
  let oldest = performance.now();
  for (const r of resources) if (r.createdAt < oldest) oldest = r.createdAt;
  const since = Math.max(oldest, state.wantedSince);
  state.wantedSince = 0;
  return since;
}
