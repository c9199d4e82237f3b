import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { loadProtoRoot } from '../../src/protos/root';
import { collectTypeUrls, StrictChecker, toProtobufJs } from './strict-proto';

/**
 * Every Envoy bootstrap under envoy/ is checked field by field against Envoy's v3 protos
 * (the snapshot shipped in @grpc/grpc-js-xds), including every typed_config, and then
 * against the invariants metaroute relies on. No Envoy binary needed.
 */

const ENVOY_DIR = path.join(__dirname, '..', '..', 'envoy');
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

// Every message a typed_config in envoy/*.yaml may name must be loaded here; an @type
// whose proto is missing fails the check ("unknown type URL"), so nothing goes unchecked.
const PROTO_FILES = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
];

const EXT_PROC = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const JWT = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const HEADER_MUTATION = 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

type Json = Record<string, unknown>;

function obj(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what}: expected an object`);
  return value as Json;
}
function list(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}
function get(value: unknown, dotted: string): unknown {
  let node: unknown = value;
  for (const part of dotted.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Json)[part];
  }
  return node;
}

interface Hcm {
  readonly listener: string;
  readonly config: Json;
  readonly filters: Json[];
}

function hcms(bootstrap: Json): Hcm[] {
  const out: Hcm[] = [];
  for (const listener of list(get(bootstrap, 'static_resources.listeners'))) {
    for (const chain of list(listener['filter_chains'])) {
      for (const filter of list(chain['filters'])) {
        const config = obj(filter['typed_config'], 'typed_config');
        if (config['@type'] === HCM) out.push({ listener: String(listener['name']), config, filters: list(config['http_filters']) });
      }
    }
  }
  return out;
}

function typedConfig(filter: Json): Json {
  return obj(filter['typed_config'], `typed_config of ${String(filter['name'])}`);
}

function initialMetadata(extProc: Json): Map<string, string> {
  return new Map(list(get(extProc, 'grpc_service.initial_metadata')).map((h) => [String(h['key']), String(h['value'])]));
}

function staticCluster(bootstrap: Json, name: string): Json {
  const cluster = list(get(bootstrap, 'static_resources.clusters')).find((c) => c['name'] === name);
  if (!cluster) throw new Error(`static cluster ${name} missing`);
  return cluster;
}

function clusterAddress(cluster: Json): string {
  const lbEndpoints = list(list(get(cluster, 'load_assignment.endpoints'))[0]?.['lb_endpoints']);
  const socket = obj(get(lbEndpoints[0], 'endpoint.address.socket_address'), 'socket_address');
  return `${String(socket['address'])}:${String(socket['port_value'])}`;
}

/** Every `port_value` in the document with its path. */
function ports(value: unknown, at = '$', out: { path: string; port: number }[] = []): { path: string; port: number }[] {
  if (Array.isArray(value)) value.forEach((v, i) => ports(v, `${at}[${i}]`, out));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'port_value' || k === 'portValue') out.push({ path: `${at}.${k}`, port: Number(v) });
      else ports(v, `${at}.${k}`, out);
    }
  }
  return out;
}

const root = loadProtoRoot(PROTO_FILES);
const checker = new StrictChecker(root);
const bootstrapType = root.lookupType(BOOTSTRAP);
const files = fs.readdirSync(ENVOY_DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
const loaded = new Map(files.map((f) => [f, obj(parse(fs.readFileSync(path.join(ENVOY_DIR, f), 'utf8')), f)]));
const doc = (file: string): Json => structuredClone(loaded.get(file)!);

test('envoy/ holds the gateway and sidecar bootstraps', () => {
  expect(files).toEqual(expect.arrayContaining(['gateway.yaml', 'sidecar.yaml']));
});

describe.each(files)('envoy/%s', (file) => {
  const bootstrap = doc(file);

  test('every field, typed_config and enum is valid for Envoy v3 (strict)', () => {
    expect(checker.check(BOOTSTRAP, bootstrap)).toEqual([]);
  });

  test('converts to envoy.config.bootstrap.v3.Bootstrap and survives an encode/decode round trip', () => {
    const message = bootstrapType.fromObject(toProtobufJs(root, bootstrapType, bootstrap) as Json);
    expect(bootstrapType.verify(message)).toBeNull();
    const bytes = bootstrapType.encode(message).finish();
    const back = bootstrapType.toObject(bootstrapType.decode(bytes), { defaults: false }) as Json;
    expect(list(get(back, 'static_resources.listeners')).length).toBe(list(get(bootstrap, 'static_resources.listeners')).length);
    // Decode the ext_proc typed_configs from the bytes: the Durations and namespaces made it.
    const extProcType = root.lookupType(EXT_PROC.slice('type.googleapis.com/'.length));
    const hcmType = root.lookupType(HCM.slice('type.googleapis.com/'.length));
    let seen = 0;
    for (const listener of list(get(back, 'static_resources.listeners'))) {
      for (const chain of list(listener['filter_chains'])) {
        for (const filter of list(chain['filters'])) {
          const hcm = hcmType.toObject(hcmType.decode(obj(filter['typed_config'], 'any')['value'] as Uint8Array)) as Json;
          for (const http of list(hcm['http_filters'])) {
            const any = obj(http['typed_config'], 'any');
            if (any['type_url'] !== EXT_PROC) continue;
            const ep = extProcType.toObject(extProcType.decode(any['value'] as Uint8Array), { enums: String }) as Json;
            expect(get(ep, 'message_timeout.nanos')).toBe(200_000_000);
            expect(get(ep, 'metadata_options.receiving_namespaces.untyped')).toContain('envoy.lb');
            expect(get(ep, 'processing_mode.request_header_mode')).toBe('SEND');
            seen++;
          }
        }
      }
    }
    expect(seen).toBeGreaterThan(0);
  });

  test('uses only typed_configs whose protos are loaded', () => {
    const urls = collectTypeUrls(bootstrap).map((u) => u.type);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) expect(checker.resolveTypeUrl(url)?.fullName).toBe(`.${url.slice('type.googleapis.com/'.length)}`);
  });

  test('ext_proc filters follow the metaroute contract', () => {
    const all = hcms(bootstrap);
    expect(all.length).toBeGreaterThan(0);
    for (const { listener, filters } of all) {
      const names = filters.map((f) => String(f['name']));
      const extProcAt = filters.findIndex((f) => typedConfig(f)['@type'] === EXT_PROC);
      expect({ listener, hasExtProc: extProcAt >= 0 }).toEqual({ listener, hasExtProc: true });
      expect(typedConfig(filters[filters.length - 1]!)['@type']).toBe(ROUTER); // router last
      const ep = typedConfig(filters[extProcAt]!);
      expect(get(ep, 'grpc_service.envoy_grpc.cluster_name')).toBe('metaroute_ext_proc');
      expect(get(ep, 'metadata_options.receiving_namespaces.untyped')).toContain('envoy.lb');
      expect(get(ep, 'message_timeout')).toBe('0.2s');
      expect(typeof ep['failure_mode_allow']).toBe('boolean'); // a decision, never the default by accident
      expect(get(ep, 'processing_mode.request_header_mode')).toBe('SEND');
      for (const mode of ['request_body_mode', 'response_body_mode']) expect(get(ep, `processing_mode.${mode}`)).toBe('NONE');
      for (const mode of ['request_trailer_mode', 'response_trailer_mode']) expect(get(ep, `processing_mode.${mode}`)).toBe('SKIP');

      const md = initialMetadata(ep);
      const side = md.get('x-metaroute-side');
      // No side: an edge gateway, where metaroute distrusts client headers (it must not say outbound).
      expect([undefined, 'outbound', 'inbound']).toContain(side);
      expect(md.get('x-metaroute-caller-service')).toMatch(/^[a-z0-9-]+$/);
      expect(md.get('x-metaroute-caller-namespace')).toMatch(/^[a-z0-9-]+$/);
      expect(md.get('x-metaroute-caller-labels')).toMatch(/^[^=,]+=[^=,]*(,[^=,]+=[^=,]*)*$/);
      if (side !== 'inbound') {
        // Routing needs only request headers; the response phase would double the messages.
        expect(get(ep, 'processing_mode.response_header_mode')).toBe('SKIP');
        // Routing headers come from metaroute only: stripped before ext_proc, and the table
        // starts with the cluster-switch route.
        const strip = filters.slice(0, extProcAt).find((f) => typedConfig(f)['@type'] === HEADER_MUTATION);
        const removed = list(get(strip && typedConfig(strip), 'mutations.request_mutations')).map((m) => m['remove']);
        expect(removed).toEqual(expect.arrayContaining(['x-metaroute-cluster', 'x-envoy-original-dst-host']));
        expect(get(ep, 'mutation_rules.allow_expression.regex')).toBe('^x-envoy-original-dst-host$');
        expect(names.indexOf('envoy.filters.http.header_mutation')).toBeLessThan(extProcAt);
      }
    }
  });

  test('every outbound route table starts with the x-metaroute-cluster switch', () => {
    for (const { config, filters } of hcms(bootstrap)) {
      const ep = typedConfig(filters.find((f) => typedConfig(f)['@type'] === EXT_PROC)!);
      if (initialMetadata(ep).get('x-metaroute-side') === 'inbound') continue;
      for (const vhost of list(get(config, 'route_config.virtual_hosts'))) {
        const first = list(vhost['routes'])[0]!;
        expect(list(get(first, 'match.headers'))[0]).toEqual({ name: 'x-metaroute-cluster', present_match: true });
        expect(get(first, 'route.cluster_header')).toBe('x-metaroute-cluster');
        expect(vhost['request_headers_to_remove']).toContain('x-metaroute-cluster');
      }
    }
  });

  test('clusters: ADS from metaroute_xds, ext_proc over HTTP/2, routes name static or <service>.<namespace> clusters', () => {
    expect(get(bootstrap, 'dynamic_resources.ads_config')).toMatchObject({
      api_type: 'GRPC',
      transport_api_version: 'V3',
      grpc_services: [{ envoy_grpc: { cluster_name: 'metaroute_xds' } }],
    });
    expect(get(bootstrap, 'dynamic_resources.cds_config')).toEqual({ ads: {}, resource_api_version: 'V3' });
    const expected: Record<string, string> = { metaroute_ext_proc: '127.0.0.1:18080', metaroute_xds: '127.0.0.1:18000' };
    for (const [name, address] of Object.entries(expected)) {
      const cluster = staticCluster(bootstrap, name);
      expect(clusterAddress(cluster)).toBe(address);
      expect(obj(cluster['typed_extension_protocol_options'], name)[HTTP_OPTIONS]).toMatchObject({
        explicit_http_config: { http2_protocol_options: {} },
      });
    }
    const statics = new Set(list(get(bootstrap, 'static_resources.clusters')).map((c) => String(c['name'])));
    for (const { config } of hcms(bootstrap)) {
      for (const vhost of list(get(config, 'route_config.virtual_hosts'))) {
        for (const route of list(vhost['routes'])) {
          const cluster = get(route, 'route.cluster');
          if (cluster === undefined) {
            expect([':authority', 'x-metaroute-cluster']).toContain(get(route, 'route.cluster_header'));
          } else if (!statics.has(String(cluster))) {
            expect(cluster).toMatch(/^[a-z0-9-]+\.[a-z0-9-]+$/); // served by metaroute over CDS
          }
        }
      }
    }
  });

  test('port 9901 is Envoy admin only; metaroute admin port 18090 is not Envoy business', () => {
    const all = ports(bootstrap);
    expect(get(bootstrap, 'admin.address.socket_address')).toEqual({ address: '127.0.0.1', port_value: 9901 });
    expect(all.filter((p) => p.port === 9901).map((p) => p.path)).toEqual(['$.admin.address.socket_address.port_value']);
    expect(all.filter((p) => p.port === 18090)).toEqual([]);
  });
});

describe('gateway specifics', () => {
  const gateway = doc('gateway.yaml');
  const [hcm] = hcms(gateway);
  const filters = hcm!.filters;
  const types = filters.map((f) => typedConfig(f)['@type']);
  const ep = typedConfig(filters[types.indexOf(EXT_PROC)]!);

  test('is an edge: it declares no x-metaroute-side, so metaroute applies its edge guard', () => {
    expect(initialMetadata(ep).get('x-metaroute-side')).toBeUndefined();
  });

  test('fails closed, and jwt_authn runs first and is forwarded to metaroute', () => {
    expect(ep['failure_mode_allow']).toBe(false);
    expect(types.indexOf(JWT)).toBeGreaterThanOrEqual(0);
    expect(types.indexOf(JWT)).toBeLessThan(types.indexOf(EXT_PROC));
    expect(get(ep, 'metadata_options.forwarding_namespaces.untyped')).toContain('envoy.filters.http.jwt_authn');
    const jwt = typedConfig(filters[types.indexOf(JWT)]!);
    for (const provider of Object.values(obj(jwt['providers'], 'providers'))) {
      expect(get(provider, 'payload_in_metadata')).toBe('jwt_payload'); // metaroute's identity.payloadKey default
      expect(typeof get(provider, 'local_jwks.inline_string')).toBe('string'); // no network at startup
      const jwks = JSON.parse(String(get(provider, 'local_jwks.inline_string'))) as { keys: unknown[] };
      expect(jwks.keys.length).toBeGreaterThan(0);
    }
    expect(ep['request_attributes']).toContain('source.address');
  });

  test('has an endpoint-mode route for per-user containers', () => {
    const routes = list(get(hcm!.config, 'route_config.virtual_hosts')).flatMap((v) => list(v['routes']));
    expect(routes.find((r) => r['name'] === 'per-user-containers')).toMatchObject({ route: { cluster: 'aigc.default' } });
  });
});

describe('sidecar specifics', () => {
  const sidecar = doc('sidecar.yaml');
  const sides = hcms(sidecar).map(({ filters }) => {
    const ep = typedConfig(filters.find((f) => typedConfig(f)['@type'] === EXT_PROC)!);
    return { side: initialMetadata(ep).get('x-metaroute-side'), failOpen: ep['failure_mode_allow'] };
  });

  test('has an outbound and an inbound listener, both failing open', () => {
    expect(sides).toEqual([
      { side: 'outbound', failOpen: true },
      { side: 'inbound', failOpen: true },
    ]);
  });
});

describe('the xDS resources these configs expect from metaroute', () => {
  // Shapes, not metaroute's code: what gateway.yaml routes to, proven to exist in the protos.
  test('a subset-mode cluster (EDS over ADS, lb_subset_config) is valid', () => {
    const cluster = {
      name: 'shop.default',
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
      connect_timeout: '1s',
      lb_policy: 'ROUND_ROBIN',
      lb_subset_config: {
        fallback_policy: 'ANY_ENDPOINT',
        subset_selectors: [{ keys: ['color'] }, { keys: ['lane'] }, { keys: ['pool'] }],
      },
    };
    expect(checker.check('envoy.config.cluster.v3.Cluster', cluster)).toEqual([]);
    const cla = {
      cluster_name: 'shop.default',
      endpoints: [
        {
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: '10.0.0.5', port_value: 8080 } } },
              metadata: { filter_metadata: { 'envoy.lb': { color: 'blue' } } },
            },
          ],
        },
      ],
    };
    expect(checker.check('envoy.config.endpoint.v3.ClusterLoadAssignment', cla)).toEqual([]);
  });

  test('an endpoint-mode ORIGINAL_DST cluster reading the header (and envoy.lb metadata) is valid', () => {
    const cluster = {
      name: 'aigc.default',
      type: 'ORIGINAL_DST',
      lb_policy: 'CLUSTER_PROVIDED', // the only policy Envoy accepts for ORIGINAL_DST
      connect_timeout: '1s',
      cleanup_interval: '60s',
      original_dst_lb_config: {
        use_http_header: true, // x-envoy-original-dst-host
        metadata_key: { key: 'envoy.lb', path: [{ key: 'x-metaroute-original-dst' }] },
      },
    };
    expect(checker.check('envoy.config.cluster.v3.Cluster', cluster)).toEqual([]);
  });
});

describe('the strict checker itself', () => {
  const base = (): Json => doc('gateway.yaml');
  const extProcOf = (bootstrap: Json): Json => {
    const [first] = hcms(bootstrap);
    return typedConfig(first!.filters.find((f) => typedConfig(f)['@type'] === EXT_PROC)!);
  };

  test('fails on a misspelled field deep inside a typed_config, which fromObject alone ignores', () => {
    const bootstrap = base();
    const ep = extProcOf(bootstrap);
    ep['metadata_options'] = { recieving_namespaces: { untyped: ['envoy.lb'] } };
    const errors = checker.check(BOOTSTRAP, bootstrap);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/\.metadata_options\.recieving_namespaces: unknown field of envoy\.extensions\.filters\.http\.ext_proc\.v3\.MetadataOptions/);
    // Why the checker exists: protobufjs drops the typo without a word.
    expect(() => bootstrapType.fromObject(toProtobufJs(root, bootstrapType, bootstrap) as Json)).not.toThrow();
  });

  test('fails on an unknown @type', () => {
    const bootstrap = base();
    const [first] = hcms(bootstrap);
    typedConfig(first!.filters[first!.filters.length - 1]!)['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr';
    expect(checker.check(BOOTSTRAP, bootstrap)).toEqual([
      expect.stringMatching(/http_filters\[\d+\]\.typed_config: unknown type URL "type\.googleapis\.com\/envoy\.extensions\.filters\.http\.router\.v3\.Routr"/),
    ]);
  });

  test.each<[string, (b: Json) => void, RegExp]>([
    ['an enum typo', (b) => ((extProcOf(b)['processing_mode'] as Json)['response_header_mode'] = 'SKP'), /expected one of DEFAULT, SEND, SKIP/],
    ['a numeric enum', (b) => ((extProcOf(b)['processing_mode'] as Json)['response_header_mode'] = 2), /expected one of/],
    ['a Duration as a number', (b) => (extProcOf(b)['message_timeout'] = 0.2), /expected a Duration like "0\.2s"/],
    ['two members of a oneof', (b) => (extProcOf(b)['grpc_service'] = { envoy_grpc: { cluster_name: 'x' }, google_grpc: { target_uri: 'x', stat_prefix: 'x' } }), /oneof target_specifier already set by envoy_grpc/],
    ['both of an "only one of" pair', (b) => Object.assign(extProcOf(b), { disable_clear_route_cache: true, route_cache_action: 'CLEAR' }), /group clear_route_cache_type already set/],
    ['null (YAML "key:" with no value)', (b) => (extProcOf(b)['metadata_options'] = null), /null is not allowed/],
    ['a missing required message', (b) => delete extProcOf(b)['grpc_service'], /required field grpc_service/],
    ['a string where a list goes', (b) => (extProcOf(b)['request_attributes'] = 'source.address'), /expected a list/],
    ['a number where a string goes', (b) => (((extProcOf(b)['grpc_service'] as Json)['initial_metadata'] as Json[])[0]!['value'] = 7), /expected a string/],
    ['a deprecated field', (b) => (staticCluster(b, 'metaroute_xds')['http2_protocol_options'] = {}), /field http2_protocol_options is deprecated/],
    ['a wrapper written as an object', (b) => (get(staticCluster(b, 'metaroute_xds'), 'upstream_connection_options.tcp_keepalive') as Json)['keepalive_time'] = { value: 30 }, /written as a bare scalar/],
    ['a typo inside an Any in a map', (b) => ((staticCluster(b, 'metaroute_xds')['typed_extension_protocol_options'] as Json)[HTTP_OPTIONS] as Json)['explicit_http_config'] = { http2_protocol_option: {} }, /explicit_http_config\.http2_protocol_option: unknown field/],
    ['a port out of range', (b) => ((get(b, 'admin.address.socket_address') as Json)['port_value'] = 70000), /port_value: must be <= 65535 \(validate.rules\)/],
  ])('fails on %s', (_name, mutate, message) => {
    const bootstrap = base();
    mutate(bootstrap);
    const errors = checker.check(BOOTSTRAP, bootstrap);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toMatch(message);
  });

  test('accepts JSON (lowerCamel) field names, as Envoy does', () => {
    expect(checker.check('envoy.config.core.v3.SocketAddress', { address: '127.0.0.1', portValue: 1 })).toEqual([]);
    expect(checker.check('envoy.config.core.v3.SocketAddress', { address: '127.0.0.1', portValue: 1, port_value: 1 })).toEqual([
      expect.stringMatching(/given twice/),
    ]);
  });
});
