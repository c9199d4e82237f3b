import type { CachedResource, Everything } from './cache';
import type { Chunks } from './chunks';
import { runToEnd, type Steps } from '../model/slices';
import { encodeSotwResponse, sotwResourcesField } from './codec';
import { decodeSotwRequestInSteps, NAMES_PER_STEP, type KnownNames } from './request-names';
import { changedSince, XdsStream, type Diff, type TypeState } from './stream';
import type { ResourceType } from './types';
import { bodyChangesSteps, SYNC_BUCKETS, type BodyChanges, type BodyPart } from './wildcard-body';

/**
 * State-of-the-world xDS (StreamAggregatedResources, StreamClusters, StreamEndpoints).
 *
 * - A request whose nonce is not the newest one sent for its type is stale: it gets no answer,
 *   but its resource names are recorded, so resources it newly subscribes to go out with the
 *   next response (envoy#10363): the client answers the newer response with the same names.
 * - ACK / NACK is read from `error_detail`, and only for the newest nonce. A NACKed version is
 *   not resent (its versions stay recorded as sent); the next change of those resources is.
 * - CDS / LDS responses carry every subscribed resource that exists (a missing one is deleted);
 *   EDS / RDS responses carry only what the client lacks, and none is sent for removals alone.
 */
export class SotwStream extends XdsStream {
  readonly protocol = 'sotw';

  /** The names each type's last request gave (see decodeSotwRequestInSteps), by type URL. */
  private readonly lastNames = new Map<string, KnownNames>();
  /** The wildcard body each type's last response carried, by part (see bodyChangesSteps); none after a response by name. */
  private readonly lastBodies = new Map<ResourceType, readonly BodyPart[]>();
  /** A wildcard body made in slices before its response (see bodySteps), with what it changes for this stream, by type. */
  private readonly preparedBodies = new Map<ResourceType, { readonly everything: Everything; readonly changes: BodyChanges }>();

  /** A request naming thousands of resources anew (Envoy's EDS request after new clusters) decodes and subscribes in steps. */
  protected *handle(bytes: Buffer): Steps<void> {
    const { request, names: known, reused } = yield* decodeSotwRequestInSteps(bytes, this.lastNames.values());
    this.noteNode(request.node);
    const type = this.resolve(request.type_url);
    if (!type) return;
    const { state, first } = this.stateFor(type);

    // The same names as this type's last request: its subscription stands as that one left it.
    if (!(reused && this.lastNames.get(request.type_url) === known)) yield* this.subscribe(state, first, request.resource_names);
    if (known) this.lastNames.set(request.type_url, known);
    else this.lastNames.delete(request.type_url);

    const nonce = request.response_nonce;
    if (nonce !== '' && state.lastNonce !== '' && nonce !== state.lastNonce) return; // stale
    if (nonce !== '' && nonce === state.lastNonce) {
      if (request.error_detail) this.recordNack(state, state.lastSent, nonce, request.error_detail);
      else if (state.lastSent) this.recordAck(state, request.version_info, state.lastSent, true);
    }
    this.flush();
  }

  private *subscribe(state: TypeState, first: boolean, requested: readonly string[]): Steps<void> {
    const type = state.type;
    if (first) state.legacyWildcard = type.fullState && requested.length === 0;
    else if (requested.length > 0) state.legacyWildcard = false; // names without `*` end it (xDS protocol: a later empty list is then nothing)
    const wildcard = state.legacyWildcard || (type.fullState && requested.includes('*'));
    const names = type.fullState ? requested.filter((n) => n !== '*') : requested;
    const servedAll = state.servesAll();
    if (wildcard !== state.wildcard) {
      state.wildcard = wildcard;
      state.want();
    }
    const next = new Set<string>();
    for (const name of names) {
      next.add(name);
      if (next.size % NAMES_PER_STEP === 0) yield;
    }
    let looked = 0;
    for (const name of state.names) {
      if (++looked % NAMES_PER_STEP === 0) yield;
      if (next.has(name)) continue;
      state.names.delete(name);
      state.reconsider(name);
    }
    for (const name of next) {
      if (++looked % NAMES_PER_STEP === 0) yield;
      if (state.names.has(name)) continue;
      state.names.add(name);
      state.reconsider(name);
      // Newly requested names are sent again even if sent unasked (by a wildcard now ended):
      // the xDS protocol's "How the client specifies what resources to return".
      if (state.sent.has(name)) state.resend.add(name);
      else if (type.fullState && !state.servesAll()) state.namedSinceResponse = true;
    }
    if (servedAll && !state.servesAll()) state.forgetWildcardOnly();
  }

  /**
   * A wildcard CDS / LDS response's shared body and what it changes for this stream, in slices
   * when more than SYNC_BUCKETS of its buckets are not the ones the stream's last body carried
   * (see WildcardBody): 2,000 new clusters over 12,000 changed them all.
   */
  protected override bodySteps(state: TypeState): Steps<void> | undefined {
    const type = state.type;
    this.preparedBodies.delete(type); // one a failed diff left
    if (!(type.fullState && state.servesAll())) return undefined;
    const before = this.lastBodies.get(type);
    return this.ctx.cache.wildcardBody(type).changedSince(before) > SYNC_BUCKETS ? this.prepareBody(type, before) : undefined;
  }

  private *prepareBody(type: ResourceType, before: readonly BodyPart[] | undefined): Steps<void> {
    yield* this.ctx.cache.wildcardBody(type).refreshSteps();
    const everything = this.ctx.cache.everything(type);
    this.preparedBodies.set(type, { everything, changes: yield* bodyChangesSteps(before, everything.parts) });
  }

  protected send(state: TypeState, { upserts, removed: foundGone }: Diff): void {
    // The body prepared for this response (see bodySteps): let go of it whatever goes out, and carry
    // it only to a stream still served every resource (a request by name may have ended the wildcard since).
    const preparedBody = this.preparedBodies.get(state.type);
    this.preparedBodies.delete(state.type);
    const prepared = state.type.fullState && state.servesAll() ? preparedBody : undefined;
    if (!state.type.fullState && upserts.length === 0) {
      // An EDS / RDS response without resources tells a SotW client nothing (a client without
      // watches of the type would not even answer it): the removed names are only forgotten.
      for (const name of foundGone) state.sent.delete(name);
      return;
    }
    if (upserts.length === 0 && foundGone.length === 0 && state.responded && !state.namedSinceResponse) return;
    state.namedSinceResponse = false;
    // One the diff found gone may be back by now (a diff in slices): this response carries it, so it
    // stays recorded as sent, and commit sees its change (a changed Cluster needs its CLA again).
    const removed = foundGone.filter((name) => this.ctx.cache.get(state.type, name) === undefined);
    const { resources, body, parts } = prepared?.everything ?? this.responseResources(state, upserts);
    const nonce = this.nextNonce();
    const version = this.ctx.cache.version(state.type);
    const response = encodeSotwResponse(version, state.type.url, nonce, body);
    if (!parts) {
      this.lastBodies.delete(state.type);
      this.commit(state, { nonce, version, resources, removed, changedSince: changedSince(state, upserts) }, response);
      return;
    }
    // The shared body is what goes out, and it may be newer than the diff: a pass under way puts
    // changes in the cache before it pushes them. It records what it carries, which the diff's
    // upserts (a widened subscription's, whose parts may be unchanged) complete.
    const { updated, gone } = prepared?.changes ?? runToEnd(bodyChangesSteps(this.lastBodies.get(state.type), parts));
    this.lastBodies.set(state.type, parts);
    const removes = gone.length > 0 ? [...new Set([...removed, ...gone])] : removed;
    this.commit(state, { nonce, version, resources, removed: removes, changedSince: changedSince(state, upserts) }, response, { referenced: [], updated: [...upserts, ...updated] });
  }

  /**
   * CDS / LDS carry every subscribed resource that exists; EDS / RDS only what changed. The body
   * references the resources' bytes, but for wildcard streams: a copy shared by all, by `parts` (see WildcardBody).
   */
  private responseResources(state: TypeState, upserts: CachedResource[]): { resources: readonly CachedResource[]; body: Chunks; parts?: readonly BodyPart[] } {
    const cache = this.ctx.cache;
    if (state.type.fullState && state.servesAll()) return cache.everything(state.type);
    let resources = upserts;
    if (state.type.fullState) {
      resources = [];
      for (const name of state.names) {
        const entry = cache.get(state.type, name);
        if (entry) resources.push(entry);
      }
    }
    return { resources, body: sotwResourcesField(resources.map((r) => r.any)) };
  }
}
