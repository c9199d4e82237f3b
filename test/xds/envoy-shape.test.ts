/**
 * Every Cluster, ClusterLoadAssignment and RouteConfiguration the builder serves, decoded from
 * the bytes a client receives, is loaded by Envoy 1.40 itself (`envoy --mode validate`): the
 * Clusters as they are (EDS over ADS), each CLA as a STATIC cluster's load_assignment, each
 * RouteConfiguration as a listener's route table. API listeners (LDS, proxyless gRPC only)
 * are checked by the grpc-js-xds client test instead.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as protobuf from 'protobufjs';
import { envoyRoot } from '../../src/protos/root';
import { Registry } from '../../src/registry/registry';
import { ResourceBuilder } from '../../src/xds/builder';
import { silentLogger } from '../../src/log/logger';
import { runToEnd } from '../../src/model/slices';
import { ResourceCache } from '../../src/xds/cache';
import { CDS, EDS, LDS, RDS } from '../../src/xds/types';
import { ENVOY, validateWithEnvoy } from '../support/envoy';
import { describeWith } from '../support/requires';
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

describeWith(ENVOY, 'served resources', () => {
  it('are accepted by Envoy', () => {
    const registry = new Registry();
    registry.upsert(instance('shop', 1, { metadata: { env: 'gray', version: 'v2' }, locality: { region: 'r', zone: 'z', campus: 'c' }, weight: 0 }));
    registry.upsert(instance('shop', 2, { healthy: false }));
    registry.upsert(instance('user', 3));
    registry.upsert(instance('switching', 4, { metadata: { user: 'A' } }));
    registry.upsert(instance('routeless', 5, { metadata: { user: 'A' } }));
    const rules = ruleSnapshot(
      [rule('inbound', 'shop', [destination({ env: 'gray' }), destination({ env: 'gray', version: 'v2' })], { failover: { kind: 'none' } })],
      [metadataRoute('user', ['user'], { mode: 'endpoint' }), metadataRoute('switching', ['user'], { mode: 'endpoint' }), metadataRoute('routeless', ['user'], { mode: 'endpoint' })],
    );
    // `switching` is rolling out from subset to endpoint mode: override_host falling back to its subset selectors;
    // `routeless` from no route at all (no selectors): falling back to any endpoint.
    const held = [{ rules: ruleSnapshot([], [metadataRoute('switching', ['user'])]), routerKeys: [] }];
    const cache = new ResourceCache();
    runToEnd(new ResourceBuilder(cache, silentLogger).buildSteps(registry.snapshot(), rules, [], 'all', held));
    const body = (resource: { any: Uint8Array }): Record<string, unknown> => {
      const { '@type': _type, ...json } = anyJson(AnyType.decode(resource.any) as unknown as { type_url: string; value: Uint8Array });
      return json;
    };
    const clusters = [...cache.entries(CDS)].map(body);
    const assignments = [...cache.entries(EDS)].map((r) => ({ name: `${r.name}-static`, type: 'STATIC', load_assignment: body(r) }));
    const routes = [...cache.entries(RDS)].map(body);
    expect([clusters.length, assignments.length, routes.length, [...cache.entries(LDS)].length]).toEqual([4, 4, 4, 4]);
    const switching = clusters.find((c) => c['name'] === 'switching.default') as any;
    const fallback = switching.load_balancing_policy.policies[0].typed_extension_config.typed_config.fallback_policy.policies[0].typed_extension_config.typed_config;
    expect(fallback).toMatchObject({ fallback_policy: 'ANY_ENDPOINT', subset_selectors: [{ keys: ['user'] }] });
    const routeless = clusters.find((c) => c['name'] === 'routeless.default') as any;
    expect(routeless.load_balancing_policy.policies[0].typed_extension_config.typed_config.fallback_policy.policies[0].typed_extension_config.typed_config).toMatchObject({ fallback_policy: 'ANY_ENDPOINT' });
    const http2 = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } };
    const bootstrap = {
      node: { id: 'shape-test', cluster: 'shape-test' },
      dynamic_resources: { ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] } },
      static_resources: {
        clusters: [{ name: 'xds', type: 'STATIC', typed_extension_protocol_options: http2, load_assignment: { cluster_name: 'xds', endpoints: [] } }, ...clusters, ...assignments],
        listeners: routes.map((route, i) => ({
          name: `routes-${i}`,
          address: { socket_address: { address: '127.0.0.1', port_value: 10000 + i } },
          filter_chains: [{ filters: [{ name: 'hcm', typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
            stat_prefix: 'x',
            route_config: { ...route, validate_clusters: false },
            http_filters: [{ name: 'router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
          } }] }],
        })),
      },
    };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-shape-')), 'bootstrap.json');
    fs.writeFileSync(file, JSON.stringify(bootstrap));
    const result = validateWithEnvoy(file);
    expect({ ok: result.ok, output: result.ok ? '' : result.output }).toEqual({ ok: true, output: '' });
  });
});
