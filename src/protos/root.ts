import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/**
 * Envoy's, xDS's, googleapis' and protoc-gen-validate's protos ship inside
 * `@grpc/grpc-js-xds` (`deps/`, a runtime dependency for this reason); they are read from
 * there, never copied into the repo. Envoy protos it lacks live in `protos/` at the package
 * root (shipped beside `dist/`).
 */
const XDS_DEPS = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const INCLUDE_DIRS = [
  path.join(XDS_DEPS, 'envoy-api'),
  path.join(XDS_DEPS, 'xds'),
  path.join(XDS_DEPS, 'googleapis'),
  path.join(XDS_DEPS, 'protoc-gen-validate'),
  path.join(__dirname, '..', '..', 'protos'),
  // descriptor.proto and friends, which protobufjs ships as files rather than built-ins.
  path.dirname(require.resolve('protobufjs/package.json')),
];

/** Loads the given proto files (relative to the include dirs) and their imports into a fresh Root. */
export function loadProtoRoot(files: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    // google/protobuf well-known types are bundled with protobufjs.
    if (target.startsWith('google/protobuf/') && protobuf.common.get(target)) return target;
    for (const dir of INCLUDE_DIRS) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(files as string[], { keepCase: true });
  root.resolveAll();
  return root;
}

/** The protos metaroute itself encodes and decodes outside the hot path (xDS, tests, config checks). */
export const ENVOY_PROTO_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/endpoint/v3/eds.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/load_balancing_policies/override_host/v3/override_host.proto',
  'envoy/extensions/load_balancing_policies/subset/v3/subset.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/service/ext_proc/v3/external_processor.proto',
];

let shared: protobuf.Root | undefined;

/** One process-wide Root for ENVOY_PROTO_FILES (loading takes a few hundred ms). */
export function envoyRoot(): protobuf.Root {
  shared ??= loadProtoRoot(ENVOY_PROTO_FILES);
  return shared;
}
