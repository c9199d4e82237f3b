import * as protobuf from 'protobufjs';

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
