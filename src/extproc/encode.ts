import type { HeaderToSet } from '../model/decision';
import type { Labels } from '../model/instance';
import type { Phase } from './decode';
import { Writer } from './wire';

/** ProcessingResponse.response oneof field numbers, by the phase they answer. */
const RESPONSE_FIELD: Readonly<Record<Phase, number>> = {
  request_headers: 1,
  response_headers: 2,
  request_body: 3,
  response_body: 4,
  request_trailers: 5,
  response_trailers: 6,
};
const IMMEDIATE_RESPONSE = 7;
const DYNAMIC_METADATA = 8;
/** HeaderValueOption.HeaderAppendAction: replace whatever the client sent. */
const OVERWRITE_IF_EXISTS_OR_ADD = 2;

/** An empty HeadersResponse / BodyResponse / TrailersResponse means CONTINUE, unchanged. */
const CONTINUE: Readonly<Record<Phase, Buffer>> = Object.fromEntries(
  Object.entries(RESPONSE_FIELD).map(([phase, field]) => [phase, new Writer().bytesField(field, new Uint8Array(0)).finish()]),
) as Record<Phase, Buffer>;

export function encodeContinue(phase: Phase): Buffer {
  return CONTINUE[phase];
}

export interface HeadersAnswer {
  readonly phase: 'request_headers' | 'response_headers';
  readonly setHeaders: readonly HeaderToSet[];
  readonly removeHeaders: readonly string[];
  readonly clearRouteCache: boolean;
  /** A pre-encoded google.protobuf.Struct (see encodeNamespaces), or undefined. */
  readonly dynamicMetadata: Uint8Array | undefined;
}

/** ProcessingResponse { HeadersResponse { CommonResponse { header_mutation, clear_route_cache } }, dynamic_metadata } */
export function encodeHeadersAnswer(answer: HeadersAnswer): Buffer {
  const common = new Writer();
  if (answer.setHeaders.length > 0 || answer.removeHeaders.length > 0) {
    common.messageField(2, encodeHeaderMutation(answer.setHeaders, answer.removeHeaders));
  }
  if (answer.clearRouteCache) common.varintField(5, 1);
  const headersResponse = new Writer();
  if (common.byteLength > 0) headersResponse.messageField(1, common);
  const out = new Writer().messageField(RESPONSE_FIELD[answer.phase], headersResponse);
  if (answer.dynamicMetadata) out.bytesField(DYNAMIC_METADATA, answer.dynamicMetadata);
  return out.finish();
}

/** ImmediateResponse { HttpStatus status = 1; HeaderMutation headers = 2; bytes body = 3; string details = 5; } */
export function encodeImmediateResponse(status: number, body: string, details: string): Buffer {
  const immediate = new Writer()
    .messageField(1, new Writer().varintField(1, status))
    .messageField(2, encodeHeaderMutation([{ key: 'content-type', value: 'text/plain; charset=utf-8' }], []))
    .stringField(3, body)
    .stringField(5, details);
  return new Writer().messageField(IMMEDIATE_RESPONSE, immediate).finish();
}

/** HeaderMutation { repeated HeaderValueOption set_headers = 1; repeated string remove_headers = 2; } */
function encodeHeaderMutation(set: readonly HeaderToSet[], remove: readonly string[]): Writer {
  const mutation = new Writer();
  for (const header of set) {
    // raw_value only: current Envoy rejects a HeaderValue with both value and raw_value.
    const headerValue = new Writer().stringField(1, header.key).stringField(3, header.value);
    mutation.messageField(1, new Writer().messageField(1, headerValue).varintField(3, OVERWRITE_IF_EXISTS_OR_ADD));
  }
  for (const name of remove) mutation.stringField(2, name);
  return mutation;
}

/**
 * Struct {"<namespace>": {fields...}, ...}: ProcessingResponse.dynamic_metadata's top-level
 * keys are filter namespaces; "envoy.lb" is what Envoy's router merges into metadata_match.
 */
export function encodeNamespaces(namespaces: Readonly<Record<string, Labels>>): Uint8Array {
  const out = new Writer();
  for (const [namespace, fields] of Object.entries(namespaces)) {
    out.messageField(1, structEntry(namespace, new Writer().messageField(5, encodeStringStruct(fields))));
  }
  return out.finish();
}

function encodeStringStruct(fields: Labels): Writer {
  const struct = new Writer();
  for (const [key, value] of Object.entries(fields)) {
    struct.messageField(1, structEntry(key, new Writer().stringField(3, value)));
  }
  return struct;
}

/** One Struct.fields map entry { string key = 1; Value value = 2; }. */
function structEntry(key: string, value: Writer): Writer {
  return new Writer().stringField(1, key).messageField(2, value);
}
