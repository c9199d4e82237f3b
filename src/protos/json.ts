import * as protobuf from 'protobufjs';
import type { Steps } from '../model/slices';

/**
 * A message in protobuf's canonical JSON mapping, as Envoy's /config_dump prints it: field
 * names as in the .proto (the roots load with keepCase), `Any` as `{"@type", ...fields}`,
 * Duration as `"5s"`, Struct/Value as plain JSON, wrapper types as their value, 64-bit
 * integers and enums as strings, bytes as base64; unset fields left out.
 */
export function toProtoJson(type: protobuf.Type, message: protobuf.Message | Record<string, unknown>, root: protobuf.Root): Record<string, unknown> {
  const object = type.toObject(message as protobuf.Message, { longs: String, enums: String, bytes: String, defaults: false, oneofs: false });
  return convert(type, object, root) as Record<string, unknown>;
}

/**
 * Encoded bytes of a repeated message field's elements converted between two yields: 32 plain
 * endpoints (some 20-30 µs each). Counted in bytes, not elements: an endpoint carrying 200
 * selector keys is 40 times the size, and 32 of them held the loop for a step far past 1 ms.
 */
const CONVERTED_BYTES_PER_STEP = 32 * 64;
/** The size of the text chunks; one is written out per step. */
const CHUNK_CHARS = 64 * 1024;

/**
 * The JSON text of `toProtoJson(type, type.decode(bytes))` as chunks of about 64 KiB, in
 * steps: each element of a repeated message field is decoded and converted on its own,
 * yielding every `CONVERTED_PER_STEP` of them, and the other fields are decoded together. A
 * 100,000-endpoint ClusterLoadAssignment took 1.4-2.3 s converted at once, the event loop held
 * throughout, and its 22 MB of text 100-200 ms more to encode as one string.
 * `first` (e.g. an Any's `"@type":...`) opens the object.
 */
export function* protoJsonChunkSteps(type: protobuf.Type, bytes: Uint8Array, root: protobuf.Root, first?: string): Steps<string[]> {
  const lists = new Map<string, string[][]>();
  const rest: Uint8Array[] = [];
  const reader = protobuf.Reader.create(bytes);
  let converted = 0;
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const field = type.fieldsById[tag >>> 3];
    const element = field?.resolve().resolvedType;
    if (field?.repeated && !field.map && (tag & 7) === 2 && element instanceof protobuf.Type && !element.fullName.startsWith('.google.protobuf.')) {
      let list = lists.get(field.name);
      if (!list) lists.set(field.name, (list = []));
      const elementBytes = reader.bytes();
      list.push(yield* protoJsonChunkSteps(element, elementBytes, root));
      converted += elementBytes.length;
      if (converted >= CONVERTED_BYTES_PER_STEP) {
        converted = 0;
        yield;
      }
    } else {
      reader.skipType(tag & 7);
      rest.push(bytes.subarray(start, reader.pos));
    }
  }
  const others = toProtoJson(type, type.decode(Buffer.concat(rest)), root);
  const chunks: string[] = [];
  let text = first === undefined ? '{' : `{${first}`;
  let empty = first === undefined;
  for (const field of type.fieldsArray) {
    const list = lists.get(field.name);
    if (!list && !Object.hasOwn(others, field.name)) continue;
    text += `${empty ? '' : ','}${JSON.stringify(field.name)}:`;
    empty = false;
    if (!list) {
      text += JSON.stringify(others[field.name]);
      continue;
    }
    text += '[';
    for (let i = 0; i < list.length; i++) {
      if (i > 0) text += ',';
      const element = list[i]!;
      text += element[0]!;
      if (element.length > 1) {
        // An element that is chunks itself (a locality of many endpoints) stays in chunks.
        chunks.push(text, ...element.slice(1, -1));
        text = element[element.length - 1]!;
      }
      if (text.length >= CHUNK_CHARS) {
        chunks.push(text);
        text = '';
        yield;
      }
    }
    text += ']';
  }
  chunks.push(`${text}}`);
  return chunks;
}

const WRAPPERS = new Set(['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue'].map((n) => `google.protobuf.${n}`));

function convert(type: protobuf.Type, object: Record<string, unknown>, root: protobuf.Root): unknown {
  const name = type.fullName.slice(1);
  if (name === 'google.protobuf.Any') return anyJson(object, root);
  if (name === 'google.protobuf.Duration') return duration(object);
  if (name === 'google.protobuf.Timestamp') return new Date(Number(object.seconds ?? 0) * 1000 + Math.floor(Number(object.nanos ?? 0) / 1e6)).toISOString();
  if (name === 'google.protobuf.Struct') return struct(object);
  if (name === 'google.protobuf.Value') return value(object);
  if (name === 'google.protobuf.ListValue') return ((object.values as Record<string, unknown>[] | undefined) ?? []).map(value);
  if (WRAPPERS.has(name)) return object.value ?? defaultOf(name);
  const out: Record<string, unknown> = {};
  for (const [key, fieldValue] of Object.entries(object)) {
    const field = type.fields[key];
    const nested = field?.resolve().resolvedType;
    if (!(nested instanceof protobuf.Type)) out[key] = fieldValue;
    else if (field!.map) out[key] = Object.fromEntries(Object.entries(fieldValue as Record<string, Record<string, unknown>>).map(([k, v]) => [k, convert(nested, v, root)]));
    else if (field!.repeated) out[key] = (fieldValue as Record<string, unknown>[]).map((v) => convert(nested, v, root));
    else out[key] = convert(nested, fieldValue as Record<string, unknown>, root);
  }
  return out;
}

function anyJson(object: Record<string, unknown>, root: protobuf.Root): unknown {
  const typeUrl = String(object.type_url ?? '');
  const inner = root.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  const bytes = Buffer.from(String(object.value ?? ''), 'base64');
  const json = toProtoJson(inner, inner.decode(bytes), root);
  // Well-known types keep their JSON form under "value".
  return inner.fullName.startsWith('.google.protobuf.') && !(json !== null && typeof json === 'object' && !Array.isArray(json)) ? { '@type': typeUrl, value: json } : { '@type': typeUrl, ...json };
}

function duration(object: Record<string, unknown>): string {
  const seconds = Number(object.seconds ?? 0);
  const nanos = Number(object.nanos ?? 0);
  return `${nanos === 0 ? seconds : (seconds + nanos / 1e9).toFixed(9).replace(/0+$/, '')}s`;
}

function struct(object: Record<string, unknown>): Record<string, unknown> {
  const fields = (object.fields as Record<string, Record<string, unknown>> | undefined) ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, value(v)]));
}

/** google.protobuf.Value: protobufjs' built-in well-known types spell fields in camelCase. */
function value(object: Record<string, unknown>): unknown {
  if ('structValue' in object) return struct(object.structValue as Record<string, unknown>);
  if ('listValue' in object) return ((object.listValue as { values?: Record<string, unknown>[] }).values ?? []).map(value);
  if ('stringValue' in object) return object.stringValue;
  if ('numberValue' in object) return object.numberValue;
  if ('boolValue' in object) return object.boolValue;
  return null;
}

function defaultOf(wrapper: string): unknown {
  if (wrapper.endsWith('BoolValue')) return false;
  if (wrapper.endsWith('64Value')) return '0';
  if (wrapper.endsWith('StringValue') || wrapper.endsWith('BytesValue')) return '';
  return 0;
}
