import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { devCertificates, OPENSSL } from '../support/certificates';
import { ENVOY, filesEnvoyReads, localSds, shippedSdsFile, validateWithEnvoy } from '../support/envoy';
import { describeWith } from '../support/requires';

/**
 * Every Envoy bootstrap metaroute ships (envoy/, deploy/) is loaded by Envoy itself
 * (`envoy --mode validate`: every field, typed_config, enum and validation rule), and then
 * checked against the contract metaroute relies on, which Envoy cannot know about.
 */

const REPO = path.join(__dirname, '..', '..');
const ENVOY_DIR = path.join(REPO, 'envoy');

const EXT_PROC = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const JWT = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const EARLY_HEADER_MUTATION = 'type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation';
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

/** YAML files under `dir` (recursively) that are Envoy bootstraps (they have static or dynamic resources). */
function bootstrapFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(dir, f))
    .filter((f) => {
      // Kubernetes manifests hold several documents; a bootstrap is one.
      const documents = parseAllDocuments(fs.readFileSync(f, 'utf8'));
      const value: unknown = documents.length === 1 ? documents[0]!.toJS() : undefined;
      return typeof value === 'object' && value !== null && ('static_resources' in value || 'dynamic_resources' in value);
    })
    .sort();
}

const shipped = [...bootstrapFiles(ENVOY_DIR), ...bootstrapFiles(path.join(REPO, 'deploy'))].map((f) => path.relative(REPO, f));

/** Envoy reads SDS and certificate files while validating: these name some (under /etc/envoy, mounted). */
const readsFiles = (file: string) => filesEnvoyReads(parse(fs.readFileSync(path.join(REPO, file), 'utf8'))).length > 0;
const expectValid = (configPath: string) => {
  const result = validateWithEnvoy(configPath);
  expect({ ok: result.ok, output: result.ok ? '' : result.output }).toEqual({ ok: true, output: '' });
  expect(result.output).not.toMatch(/deprecated/i);
};

describeWith(ENVOY, 'envoy --mode validate', () => {
  test.each(shipped.filter((f) => !readsFiles(f)))('%s is accepted by Envoy, without deprecated fields', (file) => {
    expectValid(path.join(REPO, file));
  });

  describeWith(OPENSSL, 'with the certificates scripts/dev-certs.sh makes', () => {
    test.each(shipped.filter(readsFiles))('%s is accepted by Envoy, without deprecated fields, with its SDS files beside it and /etc/envoy/tls holding the envoy certificates', (file) => {
      const bootstrap = parse(fs.readFileSync(path.join(REPO, file), 'utf8')) as Json;
      expect(filesEnvoyReads(bootstrap).sort()).toEqual(['/etc/envoy/sds-metaroute-ca.yaml', '/etc/envoy/sds-metaroute-client.yaml', '/etc/envoy/tls/ca.crt', '/etc/envoy/tls/tls.crt', '/etc/envoy/tls/tls.key']);
      const made = devCertificates();
      localSds(bootstrap, path.join(made, 'envoy'), made);
      const copy = path.join(made, 'bootstrap.yaml');
      fs.writeFileSync(copy, stringify(bootstrap));
      expectValid(copy);
    });
  });
});

/** The cluster's UpstreamTlsContext, or undefined for plaintext. */
const upstreamTls = (cluster: Json): Json | undefined => get(cluster, 'transport_socket.typed_config') as Json | undefined;

describe.each(['gateway.yaml', 'sidecar.yaml'])('deploy/envoy/%s: mutual TLS to metaroute', (file) => {
  const bootstrap = obj(parse(fs.readFileSync(path.join(REPO, 'deploy', 'envoy', file), 'utf8')), file);

  test.each(['metaroute_ext_proc', 'metaroute_xds'])('%s checks the CA and the name metaroute, and presents a client certificate, over TLS 1.3, both from watched files (SDS)', (name) => {
    const watched = (file: string) => ({ path_config_source: { path: file, watched_directory: { path: '/etc/envoy/tls' } } });
    expect(upstreamTls(staticCluster(bootstrap, name))).toEqual({
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: 'metaroute',
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_3' },
        tls_certificate_sds_secret_configs: [{ name: 'metaroute_client_certificate', sds_config: watched('/etc/envoy/sds-metaroute-client.yaml') }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'metaroute' } }] },
          validation_context_sds_secret_config: { name: 'metaroute_ca', sds_config: watched('/etc/envoy/sds-metaroute-ca.yaml') },
        },
      },
    });
    const secret = (file: string) => (parse(fs.readFileSync(shippedSdsFile(file), 'utf8')) as { resources: Json[] }).resources;
    expect(secret('/etc/envoy/sds-metaroute-client.yaml')).toEqual([{
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
      name: 'metaroute_client_certificate',
      tls_certificate: { certificate_chain: { filename: '/etc/envoy/tls/tls.crt' }, private_key: { filename: '/etc/envoy/tls/tls.key' }, watched_directory: { path: '/etc/envoy/tls' } },
    }]);
    expect(secret('/etc/envoy/sds-metaroute-ca.yaml')).toEqual([{
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
      name: 'metaroute_ca',
      validation_context: { trusted_ca: { filename: '/etc/envoy/tls/ca.crt' }, watched_directory: { path: '/etc/envoy/tls' } },
    }]);
    // The name it checks is the one it dials.
    expect(clusterAddress(staticCluster(bootstrap, name))).toMatch(/^metaroute:/);
  });
});

test('envoy/ (metaroute on the same host) is plaintext to metaroute on loopback only', () => {
  for (const [file, bootstrap] of loaded) {
    for (const name of ['metaroute_ext_proc', 'metaroute_xds']) {
      const cluster = staticCluster(bootstrap, name);
      expect({ file, name, tls: upstreamTls(cluster), address: clusterAddress(cluster) }).toEqual({ file, name, tls: undefined, address: expect.stringMatching(/^127\.0\.0\.1:/) });
    }
  }
});

const files = fs.readdirSync(ENVOY_DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
const loaded = new Map(files.map((f) => [f, obj(parse(fs.readFileSync(path.join(ENVOY_DIR, f), 'utf8')), f)]));
const doc = (file: string): Json => structuredClone(loaded.get(file)!);

test('envoy/ holds the gateway and sidecar bootstraps, and every one is validated', () => {
  expect(files).toEqual(expect.arrayContaining(['gateway.yaml', 'sidecar.yaml']));
  expect(shipped).toEqual(expect.arrayContaining(files.map((f) => `envoy/${f}`)));
});

describe.each(files)('envoy/%s', (file) => {
  const bootstrap = doc(file);

  test('ext_proc filters follow the metaroute contract', () => {
    const all = hcms(bootstrap);
    expect(all.length).toBeGreaterThan(0);
    for (const { listener, config, filters } of all) {
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
      // The edge needs only request headers; sidecars read answers for backward metadata.
      expect(get(ep, 'processing_mode.response_header_mode')).toBe(side === undefined ? 'SKIP' : 'SEND');
      if (side !== 'inbound') {
        // Routing headers come from metaroute only: stripped before the route is chosen (an
        // early header mutation: a header_mutation filter may run after the route was chosen
        // with the client's header), and the table starts with the cluster-switch route.
        const strip = list(config['early_header_mutation_extensions']).find((e) => typedConfig(e)['@type'] === EARLY_HEADER_MUTATION);
        const removed = list(get(strip && typedConfig(strip), 'mutations')).map((m) => m['remove']);
        expect(removed).toEqual(expect.arrayContaining(['x-metaroute-cluster', 'x-gateway-destination-endpoint']));
        // At the edge metaroute decides for the cluster the route chose, whatever the Host says;
        // a sidecar's outbound route is the authority itself.
        if (side === undefined) expect(ep['request_attributes']).toContain('xds.cluster_name');
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
