import { EnvoyProcess, ENVOY, waitFor } from '../support/envoy';
import { describeWith } from '../support/requires';
import { instance, startXds, type Harness } from '../xds/helpers';

/**
 * A real Envoy warming a new cluster: it pauses CDS (no ACK of the response that added the
 * cluster) until the cluster's ClusterLoadAssignment comes. A second cluster change made
 * meanwhile must not hold that CLA back: it once did, and Envoy sat with both clusters warming
 * until its 15 s EDS initial fetch timeout, every endpoint change frozen with them.
 */

function bootstrap(xdsPort: number, apiType: 'GRPC' | 'DELTA_GRPC'): Record<string, unknown> {
  return {
    node: { id: 'warming', cluster: 'warming' },
    dynamic_resources: {
      ads_config: { api_type: apiType, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [{
        name: 'xds',
        type: 'STATIC',
        connect_timeout: '1s',
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } },
        },
        load_assignment: { cluster_name: 'xds', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: xdsPort } } } }] }] },
      }],
    },
  };
}

describeWith(ENVOY, 'a real Envoy warming clusters while more cluster changes come', () => {
  let h: Harness | undefined;
  let envoy: EnvoyProcess | undefined;

  afterEach(async () => {
    await envoy?.stop();
    await h?.close();
  });

  test.each(['GRPC', 'DELTA_GRPC'] as const)('two clusters added back to back both take their endpoints (%s)', async (apiType) => {
    h = await startXds({ debounceMs: 60_000 }); // pushes only by rebuildNow: the two changes come in order, at once
    h.registry.upsert(instance('shop', 9001));
    h.xds.rebuildNow();
    const started = await EnvoyProcess.start(bootstrap(h.port, apiType));
    envoy = started;
    await waitFor('shop to be active', async () => ((await started.stat('cluster.shop.default.membership_total')) === 1 ? true : undefined));

    h.registry.upsert(instance('b', 9002));
    h.xds.rebuildNow(); // CDS adds b: Envoy warms it and answers only once b's CLA came
    h.registry.upsert(instance('c', 9003));
    h.xds.rebuildNow(); // c waits for that answer; b's CLA must not
    // Within a third of Envoy's 15 s initial fetch timeout, and without it firing.
    await waitFor('b and c with their endpoints, none warming', async () => {
      const [b, c, warming] = await Promise.all([
        started.stat('cluster.b.default.membership_total'),
        started.stat('cluster.c.default.membership_total'),
        started.stat('cluster_manager.warming_clusters'),
      ]);
      return b === 1 && c === 1 && warming === 0 ? true : undefined;
    }, 5000);
    expect(await started.stat('cluster.b.default.init_fetch_timeout')).toBe(0);
  }, 60_000);
});
