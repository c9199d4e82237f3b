import { encodeAny } from '../../src/xds/codec';
import { encodeDecision } from '../../src/extproc/responses';
import {
  CLA_TYPE, CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE,
  assignmentSteps, buildAssignment, buildCluster, encodeAssignment, buildListener, buildRouteConfiguration,
} from '../../src/xds/resources';
import { decodeAny, instance } from './helpers';
import { decodeAnswer, lbLabels } from '../support/extproc-client';

/** Encodes like the server does and decodes back, so the test sees what a client sees. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function roundTrip(typeName: string, message: object): any {
  const bytes = encodeAny(typeName, message);
  const any = (require('../../src/protos/root').envoyRoot().lookupType('google.protobuf.Any')).decode(bytes);
  return decodeAny(any).message;
}

describe('ClusterLoadAssignment', () => {
  it('groups endpoints by locality and maps health, weight and labels', () => {
    const { message, skipped } = buildAssignment('shop.default', [
      instance('shop', 9002, { locality: { region: 'r1', zone: 'z1', campus: 'c1' }, metadata: { version: 'v2', env: 'gray' }, weight: 5 }),
      instance('shop', 9001, { locality: { region: 'r1', zone: 'z1', campus: 'c1' }, healthy: false }),
      instance('shop', 9003, {}),
    ]);
    expect(skipped).toEqual([]);
    const cla = roundTrip(CLA_TYPE, message);
    expect(cla.cluster_name).toBe('shop.default');
    expect(cla.endpoints).toHaveLength(2);
    // The locality is always set, even when empty (gRPC rejects a group without one).
    const [empty, r1] = cla.endpoints;
    expect(empty.locality).toEqual({});
    expect(empty.load_balancing_weight).toEqual({ value: 100 });
    expect(r1.locality).toEqual({ region: 'r1', zone: 'z1', sub_zone: 'c1' });
    expect(r1.load_balancing_weight).toEqual({ value: 105 });
    expect(r1.lb_endpoints.map((e: { endpoint: { address: { socket_address: { port_value: number } } } }) => e.endpoint.address.socket_address.port_value)).toEqual([9001, 9002]);
    const [down, gray] = r1.lb_endpoints;
    expect(down.health_status).toBe('UNHEALTHY');
    expect(gray.health_status).toBe('HEALTHY');
    expect(gray.load_balancing_weight).toEqual({ value: 5 });
    expect(gray.metadata.filter_metadata['envoy.lb']).toEqual({ fields: { env: { stringValue: 'gray', kind: 'stringValue' }, version: { stringValue: 'v2', kind: 'stringValue' } } });
    expect(down.metadata).toBeUndefined();
  });

  it('leaves out hostnames and duplicate addresses, and drains weight-0 instances', () => {
    const { message, skipped } = buildAssignment('shop.default', [
      instance('shop', 1, { host: 'shop.internal' }),
      instance('shop', 2, { id: 'a' }),
      instance('shop', 2, { id: 'b' }),
      instance('shop', 3, { weight: 0 }),
    ]);
    expect(skipped).toEqual(['shop.internal:1 (not an IP address)', '127.0.0.1:2 (duplicate address)']);
    const cla = roundTrip(CLA_TYPE, message);
    const eps = cla.endpoints[0].lb_endpoints;
    expect(eps).toHaveLength(2);
    expect(eps[1].health_status).toBe('DRAINING');
    expect(eps[1].load_balancing_weight).toEqual({ value: 1 });
  });

  it('encodes the same instances to the same bytes whatever their order', () => {
    const a = instance('shop', 1, { metadata: { b: '2', a: '1' } });
    const b = instance('shop', 2, { locality: { zone: 'z' } });
    expect(Buffer.from(encodeAny(CLA_TYPE, buildAssignment('s', [a, b]).message)))
      .toEqual(Buffer.from(encodeAny(CLA_TYPE, buildAssignment('s', [b, { ...a, metadata: { a: '1', b: '2' } }]).message)));
  });
});

describe('Cluster', () => {
  it('is EDS over ADS with the subset selectors and fallback policy', () => {
    const cluster = roundTrip(CLUSTER_TYPE, buildCluster('shop.default', { selectors: [['env'], ['env', 'version']], keys: ['env', 'version'], endpointMode: false }));
    expect(cluster).toEqual({
      name: 'shop.default',
      type: 'EDS',
      cluster_discovery_type: 'type',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3', config_source_specifier: 'ads' }, service_name: 'shop.default' },
      common_lb_config: { healthy_panic_threshold: { value: 1 } },
      // ANY_ENDPOINT always: a request ext_proc passes (no envoy.lb) takes the fallback and must find a host.
      lb_subset_config: { fallback_policy: 'ANY_ENDPOINT', subset_selectors: [{ keys: ['env'] }, { keys: ['env', 'version'] }] },
    });
  });

  it('has no lb_subset_config without selectors', () => {
    expect(roundTrip(CLUSTER_TYPE, buildCluster('x', { selectors: [], keys: [], endpointMode: false })).lb_subset_config).toBeUndefined();
  });

  it('uses override_host in endpoint mode, reading the envoy.lb key ext_proc writes; EDS stays', () => {
    const cluster = roundTrip(CLUSTER_TYPE, buildCluster('u.default', { selectors: [], keys: [], endpointMode: true }));
    expect(cluster).toMatchObject({ name: 'u.default', type: 'EDS', eds_cluster_config: { service_name: 'u.default' } });
    const policy = cluster.load_balancing_policy.policies[0].typed_extension_config;
    expect(policy.name).toBe('envoy.load_balancing_policies.override_host');
    const overrideHost = decodeAny(policy.typed_config).message as any;
    const { key, path } = overrideHost.override_host_sources[0].metadata;
    // ext_proc's endpoint answer writes exactly the namespace and key this cluster reads, and nothing else.
    const answer = decodeAnswer(encodeDecision({ kind: 'endpoints', endpoints: ['10.0.0.1:80', '10.0.0.2:80'], first: 1 }));
    expect(key).toBe('envoy.lb');
    // override_host takes them in order: the picked one first, then the others for retries.
    expect(lbLabels(answer)).toEqual({ [path[0].key]: '10.0.0.2:80,10.0.0.1:80' });
    // A long list (a failover to a large service): the picked one and the next seven.
    const many = Array.from({ length: 100 }, (_, i) => `10.0.1.${i}:80`);
    expect(lbLabels(decodeAnswer(encodeDecision({ kind: 'endpoints', endpoints: many, first: 97 })))).toEqual({ [path[0].key]: [97, 98, 99, 0, 1, 2, 3, 4].map((i) => many[i]).join(',') });
    // The fallback selects no host: a subset balancer without selectors and NO_FALLBACK.
    const fallback = overrideHost.fallback_policy.policies[0].typed_extension_config;
    expect(fallback.name).toBe('envoy.load_balancing_policies.subset');
    const subset = decodeAny(fallback.typed_config).message as any;
    expect([subset.fallback_policy ?? 'NO_FALLBACK', subset.subset_selectors ?? []]).toEqual(['NO_FALLBACK', []]);
  });
});

describe('Listener and RouteConfiguration (proxyless gRPC)', () => {
  it('is an API listener whose HCM uses RDS over ADS and ends with the router filter', () => {
    const listener = roundTrip(LISTENER_TYPE, buildListener('echo.default'));
    expect(listener.name).toBe('echo.default');
    const hcm = decodeAny(listener.api_listener.api_listener).message as Record<string, unknown>;
    expect(hcm).toMatchObject({
      route_specifier: 'rds',
      rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'echo.default' },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { type_url: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
    });
  });

  it('routes everything to the cluster of the same name', () => {
    const route = roundTrip(ROUTE_TYPE, buildRouteConfiguration('echo.default'));
    expect(route.virtual_hosts).toEqual([
      { name: 'echo.default', domains: ['*'], routes: [{ match: { prefix: '', path_specifier: 'prefix' }, route: { cluster: 'echo.default', cluster_specifier: 'cluster' }, action: 'route' }] },
    ]);
  });
});

test('endpoints carry "" for selector keys they lack, so {key: ""} selects them in Envoy', () => {
  const { message } = buildAssignment('shop.default', [
    instance('shop', 9001, { metadata: { env: 'dev1' } }),
    instance('shop', 9002, { metadata: {} }),
  ], ['env']);
  const lb = (message as any).endpoints.flatMap((l: any) => l.lb_endpoints).map((e: any) => e.metadata.filter_metadata['envoy.lb'].fields.env.stringValue);
  expect(lb.sort()).toEqual(['', 'dev1']);
});

test('locality selector keys (nearby routing) are written from the instance locality', () => {
  const { message } = buildAssignment('shop.default', [instance('shop', 9001, { locality: { region: 'r1', zone: 'z1' } })], ['metaroute.io/campus', 'metaroute.io/zone']);
  const fields = (message as any).endpoints[0].lb_endpoints[0].metadata.filter_metadata['envoy.lb'].fields;
  expect(fields['metaroute.io/zone'].stringValue).toBe('z1');
  expect(fields['metaroute.io/campus'].stringValue).toBe('');
});

describe('encodeAssignment', () => {
  it('gives the exact bytes of buildAssignment encoded by protobufjs: localities, sorting, selector keys, health, weights, skips', () => {
    const list = [
      instance('shop', 9002, { metadata: { version: 'v2', env: 'a' }, locality: { region: 'r1', zone: 'z2' } }),
      instance('shop', 9001, { metadata: { version: 'v1' }, locality: { region: 'r1', zone: 'z1', campus: 'c1' }, healthy: false }),
      instance('shop', 9003, { weight: 0 }),
      instance('shop', 9004, { weight: 50000, locality: { region: 'r1', zone: 'z2' } }),
      instance('shop', 9005, { host: 'not-an-ip' }),
      instance('shop', 9001, { id: 'dup' }),
      // Locality values may hold any character: these two are different localities.
      instance('shop', 9006, { locality: { region: 'a\u0000b', zone: 'c' } }),
      instance('shop', 9007, { locality: { region: 'a', zone: 'b\u0000c' } }),
    ];
    for (const keys of [[], ['version'], ['env', 'metaroute.io/zone', 'version']]) {
      const built = buildAssignment('shop.default', list, keys);
      const encoded = encodeAssignment('shop.default', list, keys);
      expect(Buffer.from(encoded.any)).toEqual(Buffer.from(encodeAny(CLA_TYPE, built.message)));
      expect([...encoded.skipped].sort()).toEqual([...built.skipped].sort()); // the encoder lists duplicates in address order
    }
    expect((buildAssignment('shop.default', list.slice(-2)).message as { endpoints: unknown[] }).endpoints).toHaveLength(2);
    expect(Buffer.from(encodeAssignment('empty.default', []).any)).toEqual(Buffer.from(encodeAny(CLA_TYPE, buildAssignment('empty.default', []).message)));
  });

  it('gives the same bytes for a large mixed cluster: IPv4 sorted by number, IPv6 after, multi-byte lengths, non-ASCII names', () => {
    let seed = 11;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const list = Array.from({ length: 3000 }, (_, i) => instance('shop', 1 + rand(65535), {
      id: `i${i}`,
      host: rand(10) === 0 ? `fd00::${rand(300).toString(16)}` : `10.${rand(3)}.${rand(256)}.${rand(256)}`,
      metadata: rand(2) ? { version: ['v1', 'v2'][rand(2)]!, user: `u${i}`.repeat(1 + rand(60)) } : {},
      locality: rand(3) ? { region: 'r1', zone: ['z1', 'z2', 'zoné'][rand(3)]! } : {},
      weight: rand(5) === 0 ? 0 : 1 + rand(20000),
      healthy: rand(7) > 0,
    }));
    const built = buildAssignment('shöp.default', list, ['version', 'metaroute.io/zone']);
    const encoded = encodeAssignment('shöp.default', list, ['version', 'metaroute.io/zone']);
    expect(Buffer.from(encoded.any)).toEqual(Buffer.from(encodeAny(CLA_TYPE, built.message)));
    expect([...encoded.skipped].sort()).toEqual([...built.skipped].sort()); // the encoder lists duplicates in address order
    expect(encoded.skipped.length).toBeGreaterThan(0); // duplicates drawn on purpose
    const hosts = roundTrip(CLA_TYPE, built.message).endpoints[0].lb_endpoints.map((e: { endpoint: { address: { socket_address: { address: string } } } }) => e.endpoint.address.socket_address.address);
    const firstV6 = hosts.findIndex((h: string) => h.includes(':'));
    expect(firstV6).toBeGreaterThan(0);
    expect(hosts.slice(firstV6).every((h: string) => h.includes(':'))).toBe(true);
  });

  it('gives the right bytes when builds reuse their arrays: a small one after a large one, and two interleaved', () => {
    const large = Array.from({ length: 5000 }, (_, i) => instance('shop', 1000 + i, { id: `i${i}`, host: `10.0.${i % 7}.${i % 251}`, locality: { zone: `z${i % 3}` } }));
    const small = [instance('shop', 9001, { locality: { zone: 'z9' } }), instance('shop', 9000, { id: 'b' })];
    const smaller = large.slice(1500, 3500); // within four times its size: the large build's arrays are reused
    const expected = (list: typeof large): Buffer => Buffer.from(encodeAny(CLA_TYPE, buildAssignment('shop.default', list).message));
    expect(Buffer.from(encodeAssignment('shop.default', large).any)).toEqual(expected(large));
    expect(Buffer.from(encodeAssignment('shop.default', smaller).any)).toEqual(expected(smaller));
    expect(Buffer.from(encodeAssignment('shop.default', small).any)).toEqual(expected(small));
    const first = assignmentSteps('shop.default', large);
    const second = assignmentSteps('shop.default', large.slice(0, 2500).reverse());
    let [one, two] = [first.next(), second.next()];
    while (!one.done || !two.done) {
      if (!one.done) one = first.next();
      if (!two.done) two = second.next();
    }
    expect(Buffer.from(one.value.any)).toEqual(expected(large));
    expect(Buffer.from(two.value.any)).toEqual(expected(large.slice(0, 2500).reverse()));
  });

  it('encodes an instance again when it changes: a copy spread from an encoded one (then changed) does not reuse its bytes, nor do new selector keys', () => {
    const original = instance('shop', 9000, { metadata: { version: 'v1' } });
    const expected = (list: (typeof original)[], keys: string[] = []): Buffer => Buffer.from(encodeAny(CLA_TYPE, buildAssignment('shop.default', list, keys).message));
    expect(Buffer.from(encodeAssignment('shop.default', [original]).any)).toEqual(expected([original]));
    const drained = { ...original, healthy: false, weight: 0 };
    expect(Buffer.from(encodeAssignment('shop.default', [drained]).any)).toEqual(expected([drained]));
    expect(Buffer.from(encodeAssignment('shop.default', [original], ['zone']).any)).toEqual(expected([original], ['zone']));
    expect(Buffer.from(encodeAssignment('shop.default', [original]).any)).toEqual(expected([original]));
  });
});
