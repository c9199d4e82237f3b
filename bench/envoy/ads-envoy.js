// A real Envoy 1.40 (`npm run envoy:install`) with nothing but metaroute's ADS: every cluster,
// and its endpoints, comes from metaroute. For benches that need a real xDS client.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { stringify } = require('yaml');
const { freePort, waitFor } = require('../serving');
const { findEnvoy } = require('../../scripts/envoy-bin');

/** Starts it (one worker thread) on metaroute's xDS port, its config and log in `dir` (ENVOY_LOG_LEVEL, default warn): `{ admin, pid, child }` once ready. */
async function startAdsEnvoy(xdsPort, dir) {
  const admin = await freePort();
  const bootstrap = {
    node: { id: `bench-${path.basename(dir)}`, cluster: 'bench' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: admin } } },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'metaroute_xds' } }], set_node_on_first_message_only: true },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [{
        name: 'metaroute_xds',
        type: 'STATIC',
        connect_timeout: '1s',
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
        load_assignment: { cluster_name: 'metaroute_xds', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: xdsPort } } } }] }] },
      }],
    },
  };
  const config = path.join(dir, 'envoy.yaml');
  fs.writeFileSync(config, stringify(bootstrap));
  const log = fs.openSync(path.join(dir, 'envoy.log'), 'w');
  const child = spawn(findEnvoy(), ['-c', config, '--concurrency', '1', '--disable-hot-restart', '--log-level', process.env.ENVOY_LOG_LEVEL ?? 'warn'], { stdio: ['ignore', log, log] });
  await waitFor('Envoy', async () => (await fetch(`http://127.0.0.1:${admin}/ready`)).ok);
  return { admin: `http://127.0.0.1:${admin}`, pid: child.pid, child };
}

/** A cluster's update counters and size in that Envoy. */
async function envoyCluster(envoy, cluster) {
  const filter = encodeURIComponent(`^cluster\\.${cluster.replace('.', '\\.')}\\.(update_success|update_rejected|update_attempt|membership_total)$`);
  const text = await (await fetch(`${envoy.admin}/stats?filter=${filter}`)).text();
  const stat = (name) => Number(new RegExp(`\\.${name}: (\\d+)`).exec(text)?.[1] ?? NaN);
  return { success: stat('update_success'), rejected: stat('update_rejected'), attempts: stat('update_attempt'), members: stat('membership_total') };
}

module.exports = { envoyCluster, startAdsEnvoy };
