import type { HeaderList } from '../model/headers';
import { Reader, WIRE_LEN, WIRE_VARINT, WireError, decodeUtf8 } from './wire';

export type Phase =
  | 'request_headers'
  | 'response_headers'
  | 'request_body'
  | 'response_body'
  | 'request_trailers'
  | 'response_trailers';

/** ProcessingRequest.request oneof field numbers 2..7, in order. */
const PHASES: readonly Phase[] = [
  'request_headers', 'response_headers', 'request_body', 'response_body', 'request_trailers', 'response_trailers',
];

export interface ExtProcRequest {
  readonly phase: Phase;
  readonly headers: HeaderList | undefined;
  readonly observabilityMode: boolean;
  /** Where metadata_context and attributes sit in the frame, decoded only when asked for. */
  readonly frame: Buffer;
  readonly metadataContext: [number, number] | undefined;
  readonly attributes: ReadonlyArray<[number, number]>;
}

/** Decodes one ProcessingRequest; throws WireError on malformed input. */
export function decodeProcessingRequest(frame: Buffer, maxHeaderBytes: number): ExtProcRequest {
  const r = new Reader(frame);
  let phase: Phase | undefined;
  let headers: HeaderList | undefined;
  let observabilityMode = false;
  let metadataContext: [number, number] | undefined;
  const attributes: Array<[number, number]> = [];
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field >= 2 && field <= 7) {
      expectWire(wire, WIRE_LEN, field);
      phase = PHASES[field - 2];
      const range = r.bytesRange();
      // HttpHeaders (request/response headers) and HttpTrailers both hold a HeaderMap at field 1.
      headers = field === 2 || field === 3 ? readHttpHeaders(r.sub(range), maxHeaderBytes) : undefined;
    } else if (field === 8) {
      expectWire(wire, WIRE_LEN, field);
      metadataContext = r.bytesRange();
    } else if (field === 9) {
      expectWire(wire, WIRE_LEN, field);
      attributes.push(r.bytesRange());
    } else if (field === 10) {
      expectWire(wire, WIRE_VARINT, field);
      observabilityMode = r.varint() !== 0;
    } else {
      r.skip(wire);
    }
  }
  if (!phase) throw new WireError('ProcessingRequest carries no request phase');
  return { phase, headers, observabilityMode, frame, metadataContext, attributes };
}

function expectWire(actual: number, expected: number, field: number): void {
  if (actual !== expected) throw new WireError(`field ${field} has wire type ${actual}, expected ${expected}`);
}

/** HttpHeaders { HeaderMap headers = 1; ... }, HeaderMap { repeated HeaderValue headers = 1; } */
function readHttpHeaders(r: Reader, maxHeaderBytes: number): HeaderList {
  const list: HeaderList = { names: [], values: [], bytes: 0, oversized: false };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LEN) {
      const map = r.sub(r.bytesRange());
      while (!map.done) {
        const [f, w] = map.tag();
        if (f === 1 && w === WIRE_LEN) readHeaderValue(map.sub(map.bytesRange()), list, maxHeaderBytes);
        else map.skip(w);
      }
    } else {
      r.skip(wire);
    }
  }
  return list;
}

/**
 * HeaderValue { string key = 1; string value = 2; bytes raw_value = 3; }: current Envoy
 * sends raw_value, older Envoy value; read whichever is set.
 */
function readHeaderValue(r: Reader, list: HeaderList, maxHeaderBytes: number): void {
  let name = '';
  let value: string | undefined;
  let raw: [number, number] | undefined;
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LEN) name = r.string();
    else if (field === 2 && wire === WIRE_LEN) value = r.string();
    else if (field === 3 && wire === WIRE_LEN) raw = r.bytesRange();
    else r.skip(wire);
  }
  const valueBytes = raw ? raw[1] - raw[0] : value === undefined ? 0 : Buffer.byteLength(value, 'utf8');
  list.bytes += name.length + valueBytes;
  if (list.bytes > maxHeaderBytes) {
    list.oversized = true;
    return;
  }
  list.names.push(name);
  list.values.push(raw ? decodeUtf8(r.buf, raw[0], raw[1]) : value ?? '');
}

/**
 * How deep Structs and ListValues may nest in metadata_context and attributes (a JWT payload
 * needs a few levels): deeper is refused with INVALID_ARGUMENT before it costs time or stack.
 */
export const MAX_STRUCT_DEPTH = 32;

function nested(depth: number): number {
  if (depth >= MAX_STRUCT_DEPTH) throw new WireError(`Struct nested deeper than ${MAX_STRUCT_DEPTH} levels`);
  return depth + 1;
}

/** google.protobuf.Struct as plain JSON. Used lazily, for claims and attributes. */
function decodeStruct(r: Reader, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field !== 1 || wire !== WIRE_LEN) {
      r.skip(wire);
      continue;
    }
    const [key, value] = readMapEntry(r.sub(r.bytesRange()), (v) => decodeValue(v, depth), null);
    out[key] = value;
  }
  return out;
}

/** A protobuf map entry { string key = 1; V value = 2; } (`empty` when the value is absent). */
function readMapEntry<V>(entry: Reader, readValue: (r: Reader) => V, empty: V): [string, V] {
  let key = '';
  let value = empty;
  while (!entry.done) {
    const [field, wire] = entry.tag();
    if (field === 1 && wire === WIRE_LEN) key = entry.string();
    else if (field === 2 && wire === WIRE_LEN) value = readValue(entry.sub(entry.bytesRange()));
    else entry.skip(wire);
  }
  return [key, value];
}

function decodeValue(r: Reader, depth: number): unknown {
  let value: unknown = null;
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 2 && wire === 1) value = r.double();
    else if (field === 3 && wire === WIRE_LEN) value = r.string();
    else if (field === 4 && wire === WIRE_VARINT) value = r.varint() !== 0;
    else if (field === 5 && wire === WIRE_LEN) value = decodeStruct(r.sub(r.bytesRange()), nested(depth));
    else if (field === 6 && wire === WIRE_LEN) value = decodeList(r.sub(r.bytesRange()), nested(depth));
    else r.skip(wire); // null_value (1) and unknown fields
  }
  return value;
}

function decodeList(r: Reader, depth: number): unknown[] {
  const out: unknown[] = [];
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LEN) out.push(decodeValue(r.sub(r.bytesRange()), depth));
    else r.skip(wire);
  }
  return out;
}

/**
 * A protobuf map<string, Struct> entry list (Metadata.filter_metadata, attributes):
 * returns namespace -> JSON for the entries found in the given ranges.
 */
function decodeStructMap(frame: Buffer, ranges: ReadonlyArray<[number, number]>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const range of ranges) {
    const [key, value] = readMapEntry(new Reader(frame, range[0], range[1]), (r) => decodeStruct(r, 1), {});
    out[key] = value;
  }
  return out;
}

/** Metadata { map<string, Struct> filter_metadata = 1; }: the ranges of its map entries. */
function filterMetadataEntries(frame: Buffer, range: [number, number]): Array<[number, number]> {
  const r = new Reader(frame, range[0], range[1]);
  const entries: Array<[number, number]> = [];
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WIRE_LEN) entries.push(r.bytesRange());
    else r.skip(wire);
  }
  return entries;
}

/**
 * The parts of a ProcessingRequest decoded only when asked for: claims in metadata_context
 * when a rule or route reads them; attributes when the request has them (a gateway sends the
 * routed cluster, which names the callee) or a rule reads the caller's address. One object
 * per request, no closures.
 */
export class FrameParts {
  constructor(private readonly request: ExtProcRequest) {}

  filterMetadata(): Record<string, Record<string, unknown>> {
    const { frame, metadataContext } = this.request;
    return metadataContext ? decodeStructMap(frame, filterMetadataEntries(frame, metadataContext)) : {};
  }

  attributes(): Record<string, Record<string, unknown>> {
    return decodeStructMap(this.request.frame, this.request.attributes);
  }
}
