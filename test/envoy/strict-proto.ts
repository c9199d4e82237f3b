import * as protobuf from 'protobufjs';

/**
 * A strict checker for Envoy configuration written as YAML/JSON (proto3 JSON mapping).
 *
 * protobufjs' `Type.fromObject` silently drops fields it does not know, so a misspelled
 * field (`recieving_namespaces`) would pass a plain conversion while Envoy rejects the
 * whole bootstrap. This walker visits every value against the message descriptors and
 * reports each problem with its path. It follows Envoy's own JSON loader where it is
 * stricter than protobufjs:
 * - unknown fields are errors; a field may be spelled snake_case or as its JSON (lowerCamel) name;
 * - at most one member of a oneof, and of a `field_migrate.oneof_promotion` group
 *   (fields Envoy documents as "only one of");
 * - enums by name only (names are what the docs show; numbers hide typos);
 * - `null` is rejected (in YAML `http2_protocol_options:` is null, which Envoy reads as
 *   "unset": a silent downgrade, not the intended `{}`), except inside Struct/Value;
 * - well-known types: Duration as "1.5s", Timestamp as RFC 3339, Struct/Value/ListValue as
 *   free JSON, wrappers as bare scalars, Empty as `{}`, FieldMask as a string;
 * - Any: `@type` must be `type.googleapis.com/<full name>` of a type present in the Root,
 *   and the rest of the object is checked against it (so every `typed_config` is checked);
 * - fields or enum values marked `deprecated` are errors (Envoy warns, and some fail fatally);
 * - message fields annotated `(validate.rules).message.required` must be present.
 */

export interface CheckOptions {
  /** Reject fields and enum values marked deprecated (default true). */
  readonly rejectDeprecated?: boolean;
}

const ANY_PREFIX = 'type.googleapis.com/';

const WRAPPERS: Readonly<Record<string, 'bool' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'double' | 'float' | 'string' | 'bytes'>> = {
  '.google.protobuf.BoolValue': 'bool',
  '.google.protobuf.Int32Value': 'int32',
  '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64',
  '.google.protobuf.DoubleValue': 'double',
  '.google.protobuf.FloatValue': 'float',
  '.google.protobuf.StringValue': 'string',
  '.google.protobuf.BytesValue': 'bytes',
};

/** proto3 JSON name of a field: underscores removed, the following letter upper-cased. */
export function jsonName(fieldName: string): string {
  return fieldName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

const INT_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

/** Checks one scalar of proto type `type`; returns an error message or undefined. */
function scalarError(type: string, value: unknown): string | undefined {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : `expected a string, got ${describe(value)}`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `expected true/false, got ${describe(value)}`;
    case 'double':
    case 'float':
      if (typeof value === 'number') return undefined;
      if (typeof value === 'string' && /^(NaN|-?Infinity|-?\d+(\.\d+)?([eE][-+]?\d+)?)$/.test(value)) return undefined;
      return `expected a number, got ${describe(value)}`;
    case 'bytes':
      return typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)
        ? undefined
        : `expected base64 bytes, got ${describe(value)}`;
    default: {
      const range = INT_RANGES[type];
      if (!range) return `unsupported scalar type ${type}`;
      let n: bigint;
      if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
      else if (typeof value === 'string' && /^-?\d+$/.test(value)) n = BigInt(value);
      else return `expected an integer (${type}), got ${describe(value)}`;
      return n < range[0] || n > range[1] ? `${value as string | number} is out of range for ${type}` : undefined;
    }
  }
}

/** The scalar `(validate.rules)` Envoy enforces at load time that are cheap to mirror: numeric bounds, string length. */
function validateRuleError(field: protobuf.Field, value: unknown): string | undefined {
  const options = field.options;
  if (!options) return undefined;
  if (field.type === 'string' && typeof value === 'string') {
    const min = options['(validate.rules).string.min_len'] ?? options['(validate.rules).string.min_bytes'];
    if (typeof min === 'number' && Buffer.byteLength(value) < min) return `must be at least ${min} character(s) (validate.rules)`;
    return undefined;
  }
  if (typeof value !== 'number' && typeof value !== 'string') return undefined;
  const n = Number(value);
  const rule = (op: string): unknown => options[`(validate.rules).${field.type}.${op}`];
  const lte = rule('lte');
  const lt = rule('lt');
  const gte = rule('gte');
  const gt = rule('gt');
  if (typeof lte === 'number' && !(n <= lte)) return `must be <= ${lte} (validate.rules)`;
  if (typeof lt === 'number' && !(n < lt)) return `must be < ${lt} (validate.rules)`;
  if (typeof gte === 'number' && !(n >= gte)) return `must be >= ${gte} (validate.rules)`;
  if (typeof gt === 'number' && !(n > gt)) return `must be > ${gt} (validate.rules)`;
  return undefined;
}

export class StrictChecker {
  private readonly rejectDeprecated: boolean;

  constructor(private readonly root: protobuf.Root, options: CheckOptions = {}) {
    this.rejectDeprecated = options.rejectDeprecated ?? true;
  }

  /** Returns every problem found (empty = valid), each prefixed with its path. */
  check(typeName: string, value: unknown): string[] {
    const errors: string[] = [];
    this.message(this.root.lookupType(typeName), value, '$', errors);
    return errors;
  }

  /** Resolves an Any `@type` URL to a Type of the Root, or undefined. */
  resolveTypeUrl(url: string): protobuf.Type | undefined {
    if (!url.startsWith(ANY_PREFIX)) return undefined;
    const found = this.root.lookup(url.slice(ANY_PREFIX.length));
    return found instanceof protobuf.Type ? found : undefined;
  }

  private message(type: protobuf.Type, value: unknown, path: string, errors: string[]): void {
    const full = type.fullName;
    // Well-known types with special JSON forms first.
    if (full === '.google.protobuf.Duration') {
      if (typeof value !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(value)) {
        errors.push(`${path}: expected a Duration like "0.2s", got ${describe(value)}`);
      }
      return;
    }
    if (full === '.google.protobuf.Timestamp') {
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) errors.push(`${path}: expected an RFC 3339 timestamp`);
      return;
    }
    if (full === '.google.protobuf.FieldMask') {
      if (typeof value !== 'string') errors.push(`${path}: expected a FieldMask string`);
      return;
    }
    if (full === '.google.protobuf.Struct') {
      if (!isPlainObject(value)) errors.push(`${path}: expected a JSON object (Struct), got ${describe(value)}`);
      return;
    }
    if (full === '.google.protobuf.ListValue') {
      if (!Array.isArray(value)) errors.push(`${path}: expected a list (ListValue), got ${describe(value)}`);
      return;
    }
    if (full === '.google.protobuf.Value') return; // any JSON value
    const wrapped = WRAPPERS[full];
    if (wrapped) {
      const err = scalarError(wrapped, value);
      if (err) errors.push(`${path}: ${err} (${full.slice(1)} is written as a bare scalar)`);
      return;
    }
    if (!isPlainObject(value)) {
      errors.push(`${path}: expected an object (${full.slice(1)}), got ${describe(value)}`);
      return;
    }
    if (full === '.google.protobuf.Any') {
      this.any(value, path, errors);
      return;
    }
    this.fields(type, value, path, errors);
  }

  private any(value: Record<string, unknown>, path: string, errors: string[]): void {
    const url = value['@type'];
    if (typeof url !== 'string') {
      errors.push(`${path}: an Any needs an "@type" string`);
      return;
    }
    const inner = this.resolveTypeUrl(url);
    if (!inner) {
      errors.push(`${path}: unknown type URL "${url}" (not "type.googleapis.com/<message>" of a loaded proto)`);
      return;
    }
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== '@type') rest[k] = v;
    // Types with a special JSON form (Duration, Struct, wrappers...) sit under "value" in an Any.
    if (/^\.google\.protobuf\.(Duration|Timestamp|FieldMask|Struct|ListValue|Value|\w+Value)$/.test(inner.fullName)) {
      // proto3 JSON: Any of a type with a special JSON form is {"@type": ..., "value": <json>}.
      const keys = Object.keys(rest);
      if (keys.length !== 1 || keys[0] !== 'value') {
        errors.push(`${path}: an Any of ${inner.fullName.slice(1)} must be {"@type", "value"}`);
        return;
      }
      this.message(inner, rest['value'], `${path}.value`, errors);
      return;
    }
    this.fields(inner, rest, `${path}<${inner.fullName.slice(1)}>`, errors);
  }

  private fields(type: protobuf.Type, value: Record<string, unknown>, path: string, errors: string[]): void {
    const byName = new Map<string, protobuf.Field>();
    for (const field of type.fieldsArray) {
      byName.set(field.name, field);
      byName.set(jsonName(field.name), field);
    }
    const seen = new Map<string, string>(); // field name -> key used
    const oneofUse = new Map<string, string>(); // oneof (or promotion group) -> field name
    for (const [key, fieldValue] of Object.entries(value)) {
      const at = `${path}.${key}`;
      const field = byName.get(key);
      if (!field) {
        errors.push(`${at}: unknown field of ${type.fullName.slice(1)}`);
        continue;
      }
      const previous = seen.get(field.name);
      if (previous !== undefined) {
        errors.push(`${at}: field ${field.name} given twice (as "${previous}" and "${key}")`);
        continue;
      }
      seen.set(field.name, key);
      if (this.rejectDeprecated && field.options?.['deprecated'] === true) {
        errors.push(`${at}: field ${field.name} is deprecated`);
      }
      const groups: string[] = [];
      // proto3 `optional` fields live in synthetic one-member oneofs: nothing to enforce there.
      if (field.partOf && field.partOf.fieldsArray.length > 1) groups.push(`oneof ${field.partOf.name}`);
      const promotion = field.options?.['(udpa.annotations.field_migrate).oneof_promotion'];
      if (typeof promotion === 'string') groups.push(`"only one of" group ${promotion}`);
      for (const group of groups) {
        const other = oneofUse.get(group);
        if (other !== undefined) errors.push(`${at}: ${group} already set by ${other}`);
        else oneofUse.set(group, field.name);
      }
      if (fieldValue === null) {
        errors.push(`${at}: null is not allowed (write {} for an empty message, or leave the field out)`);
        continue;
      }
      this.fieldValue(field, fieldValue, at, errors);
    }
    for (const field of type.fieldsArray) {
      // In a oneof, PGV rules apply only to the member that is set.
      const inOneof = field.partOf !== null && field.partOf !== undefined && field.partOf.fieldsArray.length > 1;
      if (!inOneof && field.options?.['(validate.rules).message.required'] === true && !seen.has(field.name)) {
        errors.push(`${path}: required field ${field.name} of ${type.fullName.slice(1)} is missing`);
      }
    }
  }

  private fieldValue(field: protobuf.Field, value: unknown, path: string, errors: string[]): void {
    if (field instanceof protobuf.MapField) {
      if (!isPlainObject(value)) {
        errors.push(`${path}: expected a map (object), got ${describe(value)}`);
        return;
      }
      for (const [k, v] of Object.entries(value)) {
        if (field.keyType !== 'string') {
          const keyErr = field.keyType === 'bool' ? (k === 'true' || k === 'false' ? undefined : 'expected true/false') : scalarError(field.keyType, k);
          if (keyErr) errors.push(`${path}[${k}]: bad map key: ${keyErr}`);
        }
        this.single(field, v, `${path}[${JSON.stringify(k)}]`, errors);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        errors.push(`${path}: expected a list, got ${describe(value)}`);
        return;
      }
      const minItems = field.options?.['(validate.rules).repeated.min_items'];
      if (typeof minItems === 'number' && value.length < minItems) errors.push(`${path}: needs at least ${minItems} item(s) (validate.rules)`);
      value.forEach((item, i) => this.single(field, item, `${path}[${i}]`, errors));
      return;
    }
    this.single(field, value, path, errors);
  }

  private single(field: protobuf.Field, value: unknown, path: string, errors: string[]): void {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) {
      if (value === null && resolved.fullName !== '.google.protobuf.Value') {
        errors.push(`${path}: null is not allowed`);
        return;
      }
      this.message(resolved, value, path, errors);
      return;
    }
    if (resolved instanceof protobuf.Enum) {
      if (resolved.fullName === '.google.protobuf.NullValue') {
        if (value !== null && value !== 'NULL_VALUE') errors.push(`${path}: expected null`);
        return;
      }
      if (typeof value !== 'string' || !Object.prototype.hasOwnProperty.call(resolved.values, value)) {
        errors.push(`${path}: expected one of ${Object.keys(resolved.values).join(', ')} (${resolved.fullName.slice(1)}), got ${describe(value)}`);
        return;
      }
      const valueOptions = resolved.valuesOptions?.[value];
      if (this.rejectDeprecated && valueOptions?.['deprecated'] === true) {
        errors.push(`${path}: enum value ${value} is deprecated`);
      }
      return;
    }
    const err = scalarError(field.type, value);
    if (err) {
      errors.push(`${path}: ${err}`);
      return;
    }
    const ruleError = validateRuleError(field, value);
    if (ruleError) errors.push(`${path}: ${ruleError}`);
  }
}

/**
 * Rewrites a (checked) proto3-JSON object into the shape protobufjs' `fromObject` expects:
 * Durations as {seconds, nanos}, Struct/Value as their messages, wrappers as {value}, and
 * every Any encoded to {type_url, value} with its own type. Unknown fields pass through
 * untouched (fromObject then drops them, which is exactly why `StrictChecker` runs first).
 */
export function toProtobufJs(root: protobuf.Root, type: protobuf.Type, value: unknown): unknown {
  const full = type.fullName;
  if (full === '.google.protobuf.Duration' && typeof value === 'string') {
    const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
    if (!m) return value;
    const sign = m[1] === '-' ? -1 : 1;
    return { seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? '').padEnd(9, '0')) };
  }
  if (full === '.google.protobuf.Timestamp' && typeof value === 'string') {
    const ms = Date.parse(value);
    return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
  }
  if (full === '.google.protobuf.FieldMask' && typeof value === 'string') return { paths: value.split(',').filter(Boolean) };
  if (full === '.google.protobuf.Struct') return structToPb(value);
  if (full === '.google.protobuf.Value') return valueToPb(value);
  if (full === '.google.protobuf.ListValue') return { values: Array.isArray(value) ? value.map(valueToPb) : [] };
  if (full in WRAPPERS) return { value };
  if (!isPlainObject(value)) return value;
  if (full === '.google.protobuf.Any') {
    const url = value['@type'];
    const inner = typeof url === 'string' && url.startsWith(ANY_PREFIX) ? root.lookup(url.slice(ANY_PREFIX.length)) : null;
    if (!(inner instanceof protobuf.Type)) return value;
    const body: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== '@type') body[k] = v;
    const payload = /^\.google\.protobuf\./.test(inner.fullName) && 'value' in body ? body['value'] : body;
    const converted = toProtobufJs(root, inner, payload) as Record<string, unknown>;
    return { type_url: url, value: inner.encode(inner.fromObject(converted)).finish() };
  }
  const out: Record<string, unknown> = {};
  for (const [key, fieldValue] of Object.entries(value)) {
    const field = type.fields[key] ?? type.fieldsArray.find((f) => jsonName(f.name) === key);
    if (!field) {
      out[key] = fieldValue;
      continue;
    }
    const resolved = field.resolvedType;
    const one = (v: unknown): unknown => (resolved instanceof protobuf.Type ? toProtobufJs(root, resolved, v) : v);
    if (field instanceof protobuf.MapField && isPlainObject(fieldValue)) {
      const map: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(fieldValue)) map[k] = one(v);
      out[field.name] = map;
    } else if (field.repeated && Array.isArray(fieldValue)) {
      out[field.name] = fieldValue.map(one);
    } else {
      out[field.name] = one(fieldValue);
    }
  }
  return out;
}

function structToPb(value: unknown): unknown {
  const fields: Record<string, unknown> = {};
  if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) fields[k] = valueToPb(v);
  return { fields };
}

function valueToPb(value: unknown): unknown {
  if (value === null || value === undefined) return { null_value: 'NULL_VALUE' };
  if (typeof value === 'number') return { number_value: value };
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (Array.isArray(value)) return { list_value: { values: value.map(valueToPb) } };
  return { struct_value: structToPb(value) };
}

/** Every Any in a checked object: its path and type URL (for assertions on which typed_configs are used). */
export function collectTypeUrls(value: unknown, path = '$', out: { path: string; type: string }[] = []): { path: string; type: string }[] {
  if (Array.isArray(value)) value.forEach((v, i) => collectTypeUrls(v, `${path}[${i}]`, out));
  else if (isPlainObject(value)) {
    if (typeof value['@type'] === 'string') out.push({ path, type: value['@type'] });
    for (const [k, v] of Object.entries(value)) collectTypeUrls(v, `${path}.${k}`, out);
  }
  return out;
}
