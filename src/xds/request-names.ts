import * as protobuf from 'protobufjs';
import type { Steps } from '../model/slices';
import { decodeSotwRequest, type SotwRequest } from './codec';

/** The resource names of a SotW request as decoded, with their bytes on the wire. */
export interface KnownNames {
  readonly bytes: Buffer;
  readonly names: readonly string[];
}

/** Names a large request decodes per step (Envoy's EDS request at 12,000 clusters: about 6 ms cold in one). */
export const NAMES_PER_STEP = 2000;

/**
 * Decodes a SotW request, taking its `resource_names` from one of `known` when they are the same
 * bytes: Envoy repeats every name it subscribes to with each ACK, and decoding 10,000 clusters'
 * names held the loop about 10 ms per ACK. Names it decodes go NAMES_PER_STEP a step (see
 * model/slices.ts), so a small request runs in one. Returns the names to know next time
 * (`reused` when they came from `known`: the request names exactly what that one did).
 */
export function* decodeSotwRequestInSteps(bytes: Buffer, known: Iterable<KnownNames>): Steps<{ request: SotwRequest; names?: KnownNames; reused: boolean }> {
  const span = namesSpan(bytes);
  if (!span) return { request: decodeSotwRequest(bytes), reused: false };
  const wire = bytes.subarray(span.start, span.end);
  const request = decodeSotwRequest(Buffer.concat([bytes.subarray(0, span.start), bytes.subarray(span.end)]));
  const named = request as { resource_names: readonly string[] };
  for (const names of known) {
    if (!names.bytes.equals(wire)) continue;
    named.resource_names = names.names;
    return { request, names, reused: true };
  }
  named.resource_names = yield* namesInSteps(wire);
  return { request, names: { bytes: Buffer.from(wire), names: named.resource_names }, reused: false };
}

/** The names of a `resource_names` span (every field in it is one, see namesSpan). */
function* namesInSteps(wire: Buffer): Steps<string[]> {
  const reader = protobuf.Reader.create(wire);
  const names: string[] = [];
  while (reader.pos < reader.len) {
    reader.uint32(); // the field's tag
    names.push(reader.string());
    if (names.length % NAMES_PER_STEP === 0) yield;
  }
  return names;
}

const RESOURCE_NAMES = 3;

/** Where a request's `resource_names` lie, if next to each other as Envoy writes them (fields in number order); none if absent or apart. */
function namesSpan(bytes: Buffer): { start: number; end: number } | undefined {
  const reader = protobuf.Reader.create(bytes);
  let start = -1;
  let end = -1;
  while (reader.pos < reader.len) {
    const at = reader.pos;
    const tag = reader.uint32();
    if (tag >>> 3 === RESOURCE_NAMES) {
      if (end !== -1 && end !== at) return undefined; // another field between two names
      if (start === -1) start = at;
      reader.skipType(tag & 7);
      end = reader.pos;
    } else reader.skipType(tag & 7);
  }
  return start === -1 ? undefined : { start, end };
}
