import { decodeDeltaRequest, encodeDeltaResponse } from './codec';
import { changedSince, XdsStream, type Diff, type SentRecord, type TypeState } from './stream';

/**
 * Incremental (Delta) xDS (DeltaAggregatedResources, DeltaClusters, DeltaEndpoints).
 * Subscription changes apply whatever the nonce; a response carries only resources whose
 * version the client lacks, plus `removed_resources` for ones it holds that are gone. Names
 * re-subscribed are resent (the client may have forgotten them); `initial_resource_versions`
 * on a new stream avoids resending what a reconnecting client already has (versions are
 * content hashes, so they hold across restarts).
 */
export class DeltaStream extends XdsStream {
  readonly protocol = 'delta';
  /** Responses not answered yet, by nonce, with the state of their type. */
  private readonly inFlight = new Map<string, { readonly record: SentRecord; readonly state: TypeState }>();

  protected handle(bytes: Buffer): void {
    const request = decodeDeltaRequest(bytes);
    this.noteNode(request.node);
    const type = this.resolve(request.type_url);
    if (!type) return;
    const { state, first } = this.stateFor(type);

    if (first) {
      // Legacy wildcard: the first request of LDS / CDS names nothing.
      if (type.fullState && request.resource_names_subscribe.length === 0) state.wildcard = true;
      for (const [name, version] of Object.entries(request.initial_resource_versions ?? {})) state.sent.set(name, version);
    }
    const servedAll = state.servesAll();
    for (const name of request.resource_names_subscribe) {
      if (name === '*' && type.fullState) {
        state.wildcard = true;
        state.want();
      } else {
        state.names.add(name);
        if (!first) state.resend.add(name);
        state.reconsider(name);
      }
    }
    for (const name of request.resource_names_unsubscribe) {
      if (name === '*' && type.fullState) {
        state.wildcard = false;
        state.want();
      } else {
        state.names.delete(name);
        state.reconsider(name);
      }
    }
    if (servedAll && !state.servesAll()) state.forgetWildcardOnly();

    const nonce = request.response_nonce;
    if (nonce !== '') {
      // The nonce names its response, and so its type: a request naming another type's nonce still settles that one.
      const sent = this.inFlight.get(nonce);
      this.inFlight.delete(nonce);
      const answered = sent?.state ?? state;
      if (request.error_detail) this.recordNack(answered, sent?.record, nonce, request.error_detail);
      else if (sent) this.recordAck(answered, sent.record.version, sent.record, false);
    }
    this.flush();
  }

  protected send(state: TypeState, { upserts, removed }: Diff): void {
    if (upserts.length === 0 && removed.length === 0 && (state.responded || !state.type.fullState)) return;
    const nonce = this.nextNonce();
    const version = this.ctx.cache.version(state.type);
    const record: SentRecord = { nonce, version, resources: upserts, removed, changedSince: changedSince(state, upserts) };
    this.inFlight.set(nonce, { record, state }); // one per type: the next waits for its answer (XdsStream.flush)
    this.commit(state, record, encodeDeltaResponse(version, state.type.url, nonce, upserts.map((r) => r.deltaBytes), removed));
  }
}
