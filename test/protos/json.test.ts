import { toProtoJson } from '../../src/protos/json';
import { envoyRoot } from '../../src/protos/root';

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
