/**
 * Every resource the builder serves, decoded from the bytes a client receives, passes the
 * strict Envoy config checker of test/envoy (unknown or deprecated fields, oneofs, enum names,
 * required messages), in the proto3 JSON form Envoy itself loads. Weights >= 1 (a PGV rule on
 * a wrapper, which the checker does not cover) are tested in resources.test.ts.
 */
import type * as protobuf from 'protobufjs';
import { envoyRoot } from '../../src/protos/root';
import { Registry } from '../../src/registry/registry';
import { ResourceBuilder } from '../../src/xds/builder';
import { silentLogger } from '../../src/log/logger';
import { ResourceCache } from '../../src/xds/cache';
import { CDS, EDS, LDS, RDS } from '../../src/xds/types';
import { StrictChecker } from '../envoy/strict-proto';
import { destination, instance, metadataRoute, rule, ruleSnapshot } from './helpers';

const root = envoyRoot();
const AnyType = root.lookupType('google.protobuf.Any');
const WRAPPERS = new Set(['.google.protobuf.UInt32Value', '.google.protobuf.BoolValue', '.google.protobuf.Int32Value', '.google.protobuf.UInt64Value', '.google.protobuf.DoubleValue', '.google.protobuf.StringValue']);

/** Decoded message -> proto3 JSON (wrappers as scalars, Any with @type, Struct as plain JSON, enums by name). */
function toJson(type: protobuf.Type, message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(message, field.name)) continue;
    const value = message[field.name];
    if (value === null || value === undefined) continue;
    // Decoded messages carry empty repeated / map fields as own properties: not on the wire.
    if ((field.repeated && (value as unknown[]).length === 0) || (field.map && Object.keys(value as object).length === 0)) continue;
    const convert = (v: unknown): unknown => {
      const resolved = field.resolvedType;
      if (!resolved) return typeof v === 'object' && v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v;
      if ('values' in resolved) return (resolved as protobuf.Enum).valuesById[v as number];
      const t = resolved as protobuf.Type;
      if (WRAPPERS.has(t.fullName)) return (v as { value: unknown }).value;
      if (t.fullName === '.google.protobuf.Any') return anyJson(v as { type_url: string; value: Uint8Array });
      if (t.fullName === '.google.protobuf.Struct') {
        const fields = (v as { fields: Record<string, { stringValue?: string }> }).fields;
        return Object.fromEntries(Object.entries(fields).map(([k, x]) => [k, x.stringValue]));
      }
      return toJson(t, v as Record<string, unknown>);
    };
    if (field.map) out[field.name] = Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, convert(v)]));
    else if (field.repeated) out[field.name] = (value as unknown[]).map(convert);
    else out[field.name] = convert(value);
  }
  return out;
}

function anyJson(any: { type_url: string; value: Uint8Array }): Record<string, unknown> {
  const type = root.lookupType(any.type_url.slice(any.type_url.lastIndexOf('/') + 1));
  return { '@type': any.type_url, ...toJson(type, type.decode(any.value) as unknown as Record<string, unknown>) };
}

it('serves only resources the strict Envoy checker accepts', () => {
  const registry = new Registry();
  registry.upsert(instance('shop', 1, { metadata: { env: 'gray', version: 'v2' }, locality: { region: 'r', zone: 'z', campus: 'c' }, weight: 0 }));
  registry.upsert(instance('shop', 2, { healthy: false }));
  registry.upsert(instance('user', 3));
  const rules = ruleSnapshot(
    [rule('inbound', 'shop', [destination({ env: 'gray' }), destination({ env: 'gray', version: 'v2' })], { failover: { kind: 'none' } })],
    [metadataRoute('user', ['user'], { mode: 'endpoint' })],
  );
  const cache = new ResourceCache();
  new ResourceBuilder(cache, silentLogger).build(registry.snapshot(), rules, [], 'all');
  const checker = new StrictChecker(root);
  let checked = 0;
  for (const type of [CDS, EDS, LDS, RDS]) {
    for (const resource of cache.entries(type)) {
      const json = anyJson(AnyType.decode(resource.any) as unknown as { type_url: string; value: Uint8Array });
      const { '@type': typeUrl, ...body } = json;
      expect({ name: resource.name, errors: checker.check((typeUrl as string).slice('type.googleapis.com/'.length), body) }).toEqual({ name: resource.name, errors: [] });
      checked++;
    }
  }
  expect(checked).toBe(7); // shop: 4 resources; user: Cluster (ORIGINAL_DST, no CLA), Listener, RouteConfiguration
});
