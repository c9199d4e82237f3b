import { resultInSlices, runToEnd } from '../../src/model/slices';
import { toProtoJson } from '../../src/protos/json';
import { envoyRoot } from '../../src/protos/root';
import { anyJsonChunkSteps, encodeAny } from '../../src/xds/codec';
import { buildCluster, buildListener, buildRouteConfiguration, CLA_TYPE, CLUSTER_TYPE, encodeAssignment, LISTENER_TYPE, ROUTE_TYPE } from '../../src/xds/resources';
import { turnsDuring } from '../support/turns';
import { instance } from '../xds/helpers';

describe("toProtoJson (Envoy's JSON mapping)", () => {
  it('writes Duration, wrappers, Struct and nested Any as Envoy does, and leaves unset fields out', () => {
    const root = envoyRoot();
    const Cluster = root.lookupType('envoy.config.cluster.v3.Cluster');
    const cluster = Cluster.fromObject({
      name: 'shop.default',
      connect_timeout: { seconds: 1, nanos: 500_000_000 },
      per_connection_buffer_limit_bytes: { value: 32768 },
      metadata: { filter_metadata: { 'envoy.lb': { fields: { version: { stringValue: 'gray' }, n: { numberValue: 2 }, on: { boolValue: true } } } } },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          type_url: 'type.googleapis.com/google.protobuf.Duration',
          value: root.lookupType('google.protobuf.Duration').encode({ seconds: 3 }).finish(),
        },
      },
    });
    expect(toProtoJson(Cluster, cluster, root)).toEqual({
      name: 'shop.default',
      connect_timeout: '1.5s',
      per_connection_buffer_limit_bytes: 32768,
      metadata: { filter_metadata: { 'envoy.lb': { version: 'gray', n: 2, on: true } } },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3s' },
      },
    });
  });
});

describe('anyJsonChunkSteps (the config dump of one resource)', () => {
  const any = (typeName: string, message: object): Uint8Array => encodeAny(typeName, message);
  const whole = (bytes: Uint8Array): unknown => {
    const root = envoyRoot();
    const Any = root.lookupType('google.protobuf.Any');
    return toProtoJson(Any, Any.decode(bytes), root);
  };

  it('gives the JSON toProtoJson gives, for every resource type metaroute serves', () => {
    const instances = Array.from({ length: 300 }, (_, i) => instance('shop', 9000 + i, { id: `i${i}`, metadata: { version: i % 2 ? 'v1' : 'v2' }, locality: { zone: `z${i % 3}` }, healthy: i % 7 > 0 }));
    const resources = [
      encodeAssignment('shop.default', instances, ['version']).any,
      any(CLUSTER_TYPE, buildCluster('shop.default', { selectors: [['version']], keys: ['version'], endpointMode: false })),
      any(CLUSTER_TYPE, buildCluster('shop.default', { selectors: [['version']], keys: ['version'], endpointMode: true, switching: true })),
      any(LISTENER_TYPE, buildListener('shop.default')),
      any(ROUTE_TYPE, buildRouteConfiguration('shop.default')),
      any(CLA_TYPE, { cluster_name: 'empty.default' }),
    ];
    for (const bytes of resources) expect(JSON.parse(runToEnd(anyJsonChunkSteps(bytes)).join(''))).toEqual(whole(bytes));
  });

  it('yields while converting a large ClusterLoadAssignment', async () => {
    const { any: bytes } = encodeAssignment('big.default', Array.from({ length: 5000 }, (_, i) => instance('big', 1000 + i, { id: `i${i}`, host: `10.0.${i >> 8}.${i & 255}` })));
    let chunks: string[] = [];
    const turns = await turnsDuring(resultInSlices(anyJsonChunkSteps(bytes)).then((c) => (chunks = c)));
    expect(turns).toBeGreaterThan(1);
    expect(chunks.length).toBeGreaterThan(1); // about 64 KiB each
    expect((JSON.parse(chunks.join('')) as { endpoints: { lb_endpoints: unknown[] }[] }).endpoints[0]!.lb_endpoints).toHaveLength(5000);
  });
});
