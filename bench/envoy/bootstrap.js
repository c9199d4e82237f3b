// Envoy bootstraps for bench/envoy. The ext_proc filter and its cluster are taken from the
// shipped envoy/gateway.yaml (processing mode, attributes, namespaces, timeouts, connection
// rotation, circuit breakers), so the benchmark measures the configuration users run; only the
// ports and the route's cluster are the benchmark's own.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { parse } = require('yaml');

const ROOT = path.join(__dirname, '..', '..');
const EXT_PROC_FILTER = 'envoy.filters.http.ext_proc';

function shippedGateway() {
  const gateway = parse(fs.readFileSync(path.join(ROOT, 'envoy', 'gateway.yaml'), 'utf8'));
  const manager = gateway.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const extProc = manager.http_filters.find((f) => f.name === EXT_PROC_FILTER);
  const cluster = extProc && gateway.static_resources.clusters.find((c) => c.name === extProc.typed_config.grpc_service.envoy_grpc.cluster_name);
  if (!cluster) throw new Error('envoy/gateway.yaml has no ext_proc filter with its cluster');
  return { extProc, cluster };
}

function socket(port) {
  return { socket_address: { address: '127.0.0.1', port_value: port } };
}

const http2Upstream = {
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
    '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    explicit_http_config: { http2_protocol_options: {} },
  },
};

const router = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

function listener(name, port, routeConfig, httpFilters) {
  return {
    name,
    address: socket(port),
    filter_chains: [{ filters: [{
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: name,
        codec_type: 'AUTO',
        route_config: routeConfig,
        http_filters: [...httpFilters, router],
      },
    }] }],
  };
}

/**
 * The fast upstream: an Envoy answering every request itself (direct_response) on one port
 * per instance, each saying which instance it is in `x-instance`.
 */
function upstreamBootstrap(adminPort, instances) {
  return {
    admin: { address: socket(adminPort) },
    static_resources: {
      listeners: instances.map(({ name, port }) => listener(`upstream_${name}`, port, {
        virtual_hosts: [{
          name: 'all',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok\n' } } }],
          response_headers_to_add: [{ header: { key: 'x-instance', value: name } }],
        }],
      }, [])),
    },
  };
}

/**
 * The gateway under test: `/` routes to `cluster` (the upstream's instances, labelled for the
 * subset load balancer as metaroute's CDS labels them), with the shipped ext_proc filter in
 * front of the router when `extProcPort` is given, and without it otherwise.
 */
function gatewayBootstrap({ adminPort, listenerPort, cluster, instances, extProcPort }) {
  const target = {
    name: cluster,
    type: 'STATIC',
    connect_timeout: '1s',
    typed_extension_protocol_options: http2Upstream,
    lb_subset_config: { fallback_policy: 'NO_FALLBACK', subset_selectors: [{ keys: ['version'] }] },
    load_assignment: {
      cluster_name: cluster,
      endpoints: [{ lb_endpoints: instances.map(({ name, port }) => ({
        endpoint: { address: socket(port) },
        metadata: { filter_metadata: { 'envoy.lb': { version: name } } },
      })) }],
    },
  };
  const clusters = [target];
  const filters = [];
  if (extProcPort !== undefined) {
    const { extProc, cluster: extProcCluster } = shippedGateway();
    filters.push(extProc);
    extProcCluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address = socket(extProcPort);
    clusters.push(extProcCluster);
  }
  // Without ext_proc, the route names the subset itself: the same subset load balancing, no decision.
  const route = { cluster, timeout: '15s', ...(extProcPort === undefined && { metadata_match: { filter_metadata: { 'envoy.lb': { version: instances[0].name } } } }) };
  return {
    admin: { address: socket(adminPort) },
    static_resources: {
      listeners: [listener('gateway', listenerPort, { virtual_hosts: [{ name: 'gateway', domains: ['*'], routes: [{ match: { prefix: '/' }, route }] }] }, filters)],
      clusters,
    },
  };
}

module.exports = { upstreamBootstrap, gatewayBootstrap };
