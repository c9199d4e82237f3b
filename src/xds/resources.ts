import { isIP } from 'node:net';
import * as protobuf from 'protobufjs';
import { ENDPOINT_LIST_KEY, LB_NAMESPACE } from '../model/envoy-contract';
import { endpointAddress, instanceLabel, type Instance } from '../model/instance';
import { anyOf, enumValue, fieldSize, putTag, putVarint, varintSize } from './codec';
import type { SubsetPolicy } from './selectors';
import { takeBuffer } from './spare-buffers';
import { ITEMS_PER_STEP, runToEnd, sortInSteps, type Steps } from '../model/slices';

/**
 * Builders of the xDS resources of one service, as plain objects in protobufjs keepCase shape
 * with numeric enums (encoded directly, without `fromObject`). Every resource of a service is
 * named `clusterName(namespace, service)` = `<service>.<namespace>`: the Cluster, its
 * ClusterLoadAssignment (`eds_cluster_config.service_name`), the Listener a proxyless gRPC
 * client asks for when dialling `xds:///<service>.<namespace>`, and its RouteConfiguration.
 */

export const CLUSTER_TYPE = 'envoy.config.cluster.v3.Cluster';
export const CLA_TYPE = 'envoy.config.endpoint.v3.ClusterLoadAssignment';
export const LISTENER_TYPE = 'envoy.config.listener.v3.Listener';
export const ROUTE_TYPE = 'envoy.config.route.v3.RouteConfiguration';
const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'envoy.extensions.filters.http.router.v3.Router';
const OVERRIDE_HOST_TYPE = 'envoy.extensions.load_balancing_policies.override_host.v3.OverrideHost';
const SUBSET_TYPE = 'envoy.extensions.load_balancing_policies.subset.v3.Subset';
const ROUND_ROBIN_TYPE = 'envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin';
/** Caps keep a priority's summed weights below Envoy's and gRPC's uint32 limit. */
const MAX_ENDPOINT_WEIGHT = 10_000;
const MAX_LOCALITY_WEIGHT = 1_000_000;

interface Enums {
  readonly eds: number;
  readonly v3: number;
  readonly healthy: number;
  readonly unhealthy: number;
  readonly draining: number;
  readonly anyEndpoint: number;
  readonly subsetPolicyAnyEndpoint: number;
}

let enums: Enums | undefined;

function e(): Enums {
  enums ??= {
    eds: enumValue('envoy.config.cluster.v3.Cluster.DiscoveryType', 'EDS'),
    v3: enumValue('envoy.config.core.v3.ApiVersion', 'V3'),
    healthy: enumValue('envoy.config.core.v3.HealthStatus', 'HEALTHY'),
    unhealthy: enumValue('envoy.config.core.v3.HealthStatus', 'UNHEALTHY'),
    draining: enumValue('envoy.config.core.v3.HealthStatus', 'DRAINING'),
    anyEndpoint: enumValue('envoy.config.cluster.v3.Cluster.LbSubsetConfig.LbSubsetFallbackPolicy', 'ANY_ENDPOINT'),
    subsetPolicyAnyEndpoint: enumValue('envoy.extensions.load_balancing_policies.subset.v3.Subset.LbSubsetFallbackPolicy', 'ANY_ENDPOINT'),
  };
  return enums;
}

/**
 * Envoy's healthy panic threshold, in percent: below it Envoy spreads a cluster's (or subset's)
 * requests over all its hosts, unhealthy ones included. Routing counts an unhealthy or weight-0
 * instance out while any other serves (explain says so), and Envoy's default of 50 sent most
 * requests to them once fewer than half served. Envoy rounds the value to a whole percent and
 * 0 turns panic off, which zero-protect and recover-all need when nothing serves: 1 is the
 * least that panics then (and, in a subset of over 100 hosts, also below 1% healthy).
 */
const PANIC_BELOW_PERCENT = 1;

function adsSource(): object {
  return { ads: {}, resource_api_version: e().v3 };
}

/**
 * Every service is an EDS cluster over ADS. Subset mode: one subset selector per label-key set
 * the chain can write into `envoy.lb`. Endpoint mode: Envoy's override_host policy (1.35+) sends
 * the request to the `ip:port` list ext_proc writes as `envoy.lb["x-gateway-destination-endpoint"]`
 * (metadata only, so a client's header cannot steer it).
 */
export function buildCluster(name: string, policy: SubsetPolicy): object {
  const cluster: Record<string, unknown> = {
    name,
    type: e().eds,
    eds_cluster_config: { eds_config: adsSource(), service_name: name },
    common_lb_config: { healthy_panic_threshold: { value: PANIC_BELOW_PERCENT } },
  };
  if (policy.endpointMode) {
    cluster['load_balancing_policy'] = lbPolicy('envoy.load_balancing_policies.override_host', OVERRIDE_HOST_TYPE, {
      override_host_sources: [{ metadata: { key: LB_NAMESPACE, path: [{ key: ENDPOINT_LIST_KEY }] } }],
      fallback_policy: policy.switching ? switchingFallback(policy.selectors) : NO_HOST,
    });
    return cluster;
  }
  // protobufjs writes every field that is set, zero values included: leave defaults
  // (lb_policy ROUND_ROBIN, empty strings) unset for canonical bytes.
  if (policy.selectors.length > 0) {
    // Always ANY_ENDPOINT: Envoy applies the fallback to every request without envoy.lb (a
    // pass), which must reach the cluster. `failover: none` is metaroute's own 503, not Envoy's.
    cluster['lb_subset_config'] = { fallback_policy: e().anyEndpoint, subset_selectors: policy.selectors.map((keys) => ({ keys })) };
  }
  return cluster;
}

function lbPolicy(name: string, typeName: string, config: object): object {
  return { policies: [{ typed_extension_config: { name, typed_config: anyOf(typeName, config) } }] };
}

/**
 * override_host's fallback when no listed host is valid (none written, or the container is
 * gone): a subset balancer with no selectors and NO_FALLBACK (the enum's 0, left unset)
 * selects nothing, so Envoy answers 503 rather than sending user A's request to another
 * user's container. metaroute writes an endpoint list for every decision of an endpoint-mode
 * service, so a healthy request never needs the fallback.
 */
const NO_HOST = lbPolicy('envoy.load_balancing_policies.subset', SUBSET_TYPE, {
  subset_lb_policy: lbPolicy('envoy.load_balancing_policies.round_robin', ROUND_ROBIN_TYPE, {}),
});

/**
 * While a service switches between subset and endpoint mode (app/rollout.ts), requests
 * decided by the subset side carry labels or no `envoy.lb` at all (a pass, also the only kind
 * when that side has no selectors) and no endpoint list: they fall back to the subset
 * selectors or any endpoint, as a subset-mode cluster would serve them. Only for the rollout's few
 * milliseconds to seconds: then an endpoint-mode request whose listed host is gone reaches
 * any endpoint instead of 503 (see docs/ENVOY.md).
 */
function switchingFallback(selectors: readonly (readonly string[])[]): object {
  return lbPolicy('envoy.load_balancing_policies.subset', SUBSET_TYPE, {
    fallback_policy: e().subsetPolicyAnyEndpoint,
    subset_selectors: selectors.map((keys) => ({ keys })),
    subset_lb_policy: lbPolicy('envoy.load_balancing_policies.round_robin', ROUND_ROBIN_TYPE, {}),
  });
}

export interface BuiltAssignment {
  readonly message: object;
  /** `ip:port (why)` of instances left out: Envoy and gRPC reject the whole CLA over one of them. */
  readonly skipped: readonly string[];
}

/**
 * One ClusterLoadAssignment as an object: endpoints grouped by locality (region, zone,
 * sub_zone = campus), sorted (`endpointOrder`) so that the same instances always encode to the
 * same bytes (and the same version). The served bytes come from `encodeAssignment`, which the tests hold to
 * this definition byte for byte.
 */
export function buildAssignment(name: string, instances: readonly Instance[], selectorKeys: readonly string[] = []): BuiltAssignment {
  const skipped: string[] = [];
  const seen = new Set<string>();
  const byLocality = new Map<string, { locality: object; weight: number; endpoints: { order: number | string; message: object }[] }>();
  for (const instance of instances) {
    const address = endpointAddress(instance);
    if (isIP(instance.host) === 0) {
      skipped.push(`${address} (not an IP address)`);
      continue;
    }
    if (seen.has(address)) {
      skipped.push(`${address} (duplicate address)`);
      continue;
    }
    seen.add(address);
    const region = instance.locality.region ?? '';
    const zone = instance.locality.zone ?? '';
    const subZone = instance.locality.campus ?? '';
    const key = localityKey(instance.locality);
    let group = byLocality.get(key);
    if (!group) {
      // Always set: gRPC rejects a LocalityLbEndpoints without `locality`.
      const locality = { ...(region && { region }), ...(zone && { zone }), ...(subZone && { sub_zone: subZone }) };
      group = { locality, weight: 0, endpoints: [] };
      byLocality.set(key, group);
    }
    const weight = endpointWeight(instance.weight);
    group.weight += weight;
    group.endpoints.push({ order: endpointOrder(instance), message: lbEndpoint(instance, weight, selectorKeys) });
  }
  const endpoints = [...byLocality.entries()]
    .sort(([a], [b]) => compare(a, b))
    .map(([, group]) => ({
      locality: group.locality,
      lb_endpoints: group.endpoints.sort((a, b) => compareOrder(a.order, b.order)).map((x) => x.message),
      // gRPC ignores localities without a weight; Envoy uses it only with locality-weighted LB.
      load_balancing_weight: { value: Math.min(group.weight, MAX_LOCALITY_WEIGHT) },
    }));
  return { message: { cluster_name: name, endpoints }, skipped };
}

/** One instance's LbEndpoint, encoded once per (instance object, selector keys): instances are immutable. */
interface EncodedEndpoint {
  readonly keys: string;
  readonly skip: string | undefined;
  readonly address: string;
  readonly locality: Instance['locality'];
  /** `localityKey(locality)`, computed once. */
  readonly localityKey: string;
  readonly order: number | string;
  readonly weight: number;
  readonly bytes: Uint8Array;
}

/**
 * Each instance's encoding is kept on the instance object, under a symbol only this module
 * knows, and dies with it. A WeakMap did the same, but its 100,000 entries are ephemerons that
 * every full GC re-marks and clears in its pause: with an Envoy subscribed under churn, the
 * longest pause per run was 36-65 ms in the median, against 22-34 ms this way (bench/registry/run.js ADS=1).
 */
const ENCODED = Symbol('encodedEndpoint');
type EncodableInstance = Instance & { [ENCODED]?: EncodedEndpoint };

function encodedEndpoint(instance: EncodableInstance, selectorKeys: readonly string[], keysId: string): EncodedEndpoint {
  const cached = instance[ENCODED];
  if (cached?.keys === keysId) return cached;
  const address = endpointAddress(instance);
  const weight = endpointWeight(instance.weight);
  const skip = isIP(instance.host) === 0 ? `${address} (not an IP address)` : undefined;
  const encoded: EncodedEndpoint = {
    keys: keysId,
    skip,
    address,
    locality: instance.locality,
    localityKey: localityKey(instance.locality),
    order: endpointOrder(instance),
    weight,
    bytes: skip ? new Uint8Array(0) : writeLbEndpoint(instance, weight, selectorKeys),
  };
  // Not enumerable: a copy made by spreading an instance (and then changed) must not take it along.
  if (ENCODED in instance) instance[ENCODED] = encoded;
  else Object.defineProperty(instance, ENCODED, { value: encoded, writable: true });
  return encoded;
}

/**
 * An endpoint encoded now costs this many endpoints taken from their instances (10-13 µs
 * against about 0.5): a build's step holds about a millisecond either way. Counting endpoints
 * alone, a step of a first build of 100,000 (after a start, or a change of selector keys) held
 * the event loop 10-20 ms, and up to 63 with a GC pause inside.
 */
const ENCODE_WEIGHT = 16;
/**
 * Selector keys that double an endpoint's encoding (each is written into its `envoy.lb`
 * metadata, with "" where it lacks the key): with 200 keys a step of 64 encodes held the loop
 * 5-15 ms (bench/admin/hostile-bodies.js RULES=200).
 */
const KEYS_PER_ENCODE_WEIGHT = 16;

/** Field tags: length-delimited (wire type 2) and varint (0). */
const LEN = (field: number): number => (field << 3) | 2;
const VARINT = (field: number): number => field << 3;

/**
 * The bytes protobufjs gives for `lbEndpoint()` (same fields, same order; the tests compare
 * them), written directly: encoding the object form cost about 100 µs per endpoint.
 */
function writeLbEndpoint(instance: Instance, weight: number, selectorKeys: readonly string[]): Uint8Array {
  const w = protobuf.Writer.create();
  // endpoint { address { socket_address { address, port_value } } }
  w.uint32(LEN(1)).fork().uint32(LEN(1)).fork().uint32(LEN(1)).fork();
  w.uint32(LEN(2)).string(instance.host).uint32(VARINT(3)).uint32(instance.port);
  w.ldelim().ldelim().ldelim();
  w.uint32(VARINT(2)).int32(!instance.healthy ? e().unhealthy : instance.weight <= 0 ? e().draining : e().healthy);
  const keys = [...new Set([...Object.keys(instance.metadata), ...selectorKeys])].sort();
  if (keys.length > 0) {
    // metadata { filter_metadata { key: "envoy.lb", value: Struct { fields { key, value: Value { string_value } } } } }
    w.uint32(LEN(3)).fork().uint32(LEN(1)).fork().uint32(LEN(1)).string(LB_NAMESPACE).uint32(LEN(2)).fork();
    for (const k of keys) {
      w.uint32(LEN(1)).fork().uint32(LEN(1)).string(k).uint32(LEN(2)).fork().uint32(LEN(3)).string(instanceLabel(instance, k) ?? '').ldelim().ldelim();
    }
    w.ldelim().ldelim().ldelim();
  }
  w.uint32(LEN(4)).fork().uint32(VARINT(1)).uint32(weight).ldelim();
  return w.finish();
}

/**
 * The ClusterLoadAssignment of `buildAssignment`, as the Any a response carries, assembled from
 * endpoints encoded once per instance: a change of one instance re-encodes one endpoint, and a
 * rebuild of a large cluster sorts numbers (IPv4) and copies each endpoint's bytes once into
 * one buffer sized in advance (a protobufjs Writer with an operation per endpoint, a string
 * comparison sort and a second copy for the Any took 1.0-1.6 s at 100,000 endpoints).
 */
export function encodeAssignment(name: string, instances: readonly Instance[], selectorKeys: readonly string[] = []): { any: Uint8Array; skipped: string[] } {
  return runToEnd(assignmentSteps(name, instances, selectorKeys));
}

/**
 * `encodeAssignment` in steps of about a millisecond (see model/slices.ts): the instances are
 * copied first, so the registry may change them between steps. Endpoints are sorted by address
 * (IPv4 as numbers, then others as text), duplicates dropped (the sort is stable: the first
 * listed stays), then grouped by locality keeping that order, in arrays reused between builds.
 * A large assignment is written into a buffer a retired version gave back (see spare-buffers.ts).
 */
export function* assignmentSteps(name: string, live: readonly Instance[], selectorKeys: readonly string[] = []): Steps<{ any: Uint8Array; skipped: string[] }> {
  const arrays = takeBuildArrays(live.length);
  const { instances, a, b } = arrays;
  const count = live.length;
  for (let i = 0; i < count; i++) instances[i] = live[i]!;
  const keysId = selectorKeys.join('\u0000');
  const encodeWeight = ENCODE_WEIGHT * (1 + selectorKeys.length / KEYS_PER_ENCODE_WEIGHT);
  const skipped: string[] = [];
  let listed = 0;
  let stepLeft = ITEMS_PER_STEP;
  for (let i = 0; i < count; i++) {
    const instance: EncodableInstance = instances[i]!;
    stepLeft -= instance[ENCODED]?.keys === keysId ? 1 : encodeWeight;
    if (stepLeft <= 0) {
      stepLeft = ITEMS_PER_STEP;
      yield;
    }
    const encoded = encodedEndpoint(instance, selectorKeys, keysId);
    if (encoded.skip) skipped.push(encoded.skip);
    else a[listed++] = encoded;
  }
  const sorted = yield* sortInSteps(a, addressBefore, listed, [a, b]);
  const byLocality = new Map<string, Group>();
  let kept = 0;
  for (let i = 0; i < listed; i++) {
    if ((i & (ITEMS_PER_STEP - 1)) === ITEMS_PER_STEP - 1) yield;
    const encoded = sorted[i]!;
    if (kept > 0 && sorted[kept - 1]!.order === encoded.order) {
      skipped.push(`${encoded.address} (duplicate address)`);
      continue;
    }
    sorted[kept++] = encoded;
    let group = byLocality.get(encoded.localityKey);
    if (!group) byLocality.set(encoded.localityKey, (group = { key: encoded.localityKey, locality: encoded.locality, weight: 0, endpointBytes: 0, count: 0, next: 0 }));
    group.weight += encoded.weight;
    group.endpointBytes += fieldSize(encoded.bytes.length);
    group.count++;
  }
  const groups = [...byLocality.values()].sort((x, y) => compare(x.key, y.key));
  let offset = 0;
  for (const group of groups) {
    group.next = offset;
    offset += group.count;
  }
  // A counting sort: each locality's endpoints in one range, in address order.
  const grouped = sorted === a ? b : a;
  for (let i = 0; i < kept; i++) {
    if ((i & (ITEMS_PER_STEP - 1)) === ITEMS_PER_STEP - 1) yield;
    grouped[byLocality.get(sorted[i]!.localityKey)!.next++] = sorted[i]!;
  }
  const typeUrl = `type.googleapis.com/${CLA_TYPE}`;
  const nameBytes = Buffer.byteLength(name);
  const localities = groups.map((group) => localityBytes(group.locality));
  let claSize = fieldSize(nameBytes);
  const sizes = groups.map((group, g) => fieldSize(localities[g]!.length) + fieldSize(1 + varintSize(localityWeight(group))) + group.endpointBytes);
  for (const size of sizes) claSize += fieldSize(size);
  const out = takeBuffer(fieldSize(typeUrl.length) + fieldSize(claSize));
  let at = putTag(out, 0, LEN(1), typeUrl.length);
  at += out.write(typeUrl, at, 'latin1');
  at = putTag(out, at, LEN(2), claSize);
  at = putTag(out, at, LEN(1), nameBytes);
  at += out.write(name, at, 'utf8');
  let written = 0;
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g]!;
    const locality = localities[g]!;
    at = putTag(out, at, LEN(2), sizes[g]!);
    at = putTag(out, at, LEN(1), locality.length);
    out.set(locality, at);
    at += locality.length;
    for (let i = group.next - group.count; i < group.next; i++) {
      const bytes = grouped[i]!.bytes;
      at = putTag(out, at, LEN(2), bytes.length);
      out.set(bytes, at);
      at += bytes.length;
      if ((++written & (ITEMS_PER_STEP - 1)) === 0) yield;
    }
    const weight = localityWeight(group);
    at = putTag(out, at, LEN(3), 1 + varintSize(weight));
    out[at++] = VARINT(1);
    at = putVarint(out, at, weight);
  }
  if (at !== out.length) throw new Error(`ClusterLoadAssignment ${name}: wrote ${at} of ${out.length} bytes`);
  yield* releaseBuildArrays(arrays, count);
  return { any: out, skipped };
}

/** IPv4 endpoints first, by number; then the others (IPv6), by text. */
function addressBefore(x: EncodedEndpoint, y: EncodedEndpoint): boolean {
  const p = x.order;
  const q = y.order;
  if (typeof p === 'number') return typeof q !== 'number' || p < q;
  return typeof q === 'string' && p < q;
}

/** One locality's endpoints: counted, then `grouped[next - count, next)` once placed. */
interface Group {
  readonly key: string;
  readonly locality: Instance['locality'];
  weight: number;
  /** The encoded size of its endpoints, each as a field of LocalityLbEndpoints. */
  endpointBytes: number;
  count: number;
  next: number;
}

function localityWeight(group: Group): number {
  return Math.min(group.weight, MAX_LOCALITY_WEIGHT);
}

/** Always written, even empty: gRPC rejects a LocalityLbEndpoints without `locality`. */
function localityBytes({ region, zone, campus }: Instance['locality']): Uint8Array {
  const w = protobuf.Writer.create();
  if (region) w.uint32(LEN(1)).string(region);
  if (zone) w.uint32(LEN(2)).string(zone);
  if (campus) w.uint32(LEN(3)).string(campus);
  return w.finish();
}

/** Groups endpoints by locality and orders the groups: any value may hold any character, so JSON, not a separator. */
function localityKey({ region = '', zone = '', campus = '' }: Instance['locality']): string {
  return JSON.stringify([region, zone, campus]);
}

/**
 * The arrays of one build under way, kept for the next: a 100,000-endpoint build allocated
 * about 10 MB of arrays and a Set of addresses each time, straight into the old generation
 * (arrays that large skip the young one), and under churn with a subscribed Envoy that garbage
 * brought a full GC with a 20-35 ms pause every few seconds. They hold a build's references
 * only while it runs.
 */
interface BuildArrays {
  readonly instances: Instance[];
  readonly a: EncodedEndpoint[];
  readonly b: EncodedEndpoint[];
}

const spareArrays: BuildArrays[] = [];
/** Builds of different resources may interleave; more spares than this are left to the GC, the smallest first. */
const MAX_SPARE_ARRAYS = 4;

/** The largest spare not far larger than needed (a small build leaves a large cluster's arrays for it). */
function takeBuildArrays(count: number): BuildArrays {
  let best = -1;
  for (let i = 0; i < spareArrays.length; i++) {
    const size = spareArrays[i]!.instances.length;
    if (size <= 4 * count + ITEMS_PER_STEP && (best < 0 || size > spareArrays[best]!.instances.length)) best = i;
  }
  return best < 0 ? { instances: [], a: [], b: [] } : spareArrays.splice(best, 1)[0]!;
}

function* releaseBuildArrays(arrays: BuildArrays, count: number): Steps<void> {
  for (let at = 0; at < count; at += 16 * ITEMS_PER_STEP) {
    const end = Math.min(at + 16 * ITEMS_PER_STEP, count);
    arrays.instances.fill(undefined as never, at, end);
    arrays.a.fill(undefined as never, at, end);
    arrays.b.fill(undefined as never, at, end);
    yield;
  }
  if (spareArrays.length < MAX_SPARE_ARRAYS) spareArrays.push(arrays);
  else {
    // Full: these replace the smallest spare if larger (a large cluster's arrays are the ones worth keeping).
    const smallest = spareArrays.reduce((min, spare, i) => (spare.instances.length < spareArrays[min]!.instances.length ? i : min), 0);
    if (spareArrays[smallest]!.instances.length < arrays.instances.length) spareArrays[smallest] = arrays;
  }
}

/**
 * Selector keys the instance lacks are written with the value "": a decision for "instances
 * without this key" (a lane's baseline, metadata failover `others`) is `{key: ""}`, and
 * Envoy's subset LB can only match keys an endpoint has.
 */
function lbEndpoint(instance: Instance, weight: number, selectorKeys: readonly string[]): object {
  const endpoint: Record<string, unknown> = {
    endpoint: { address: { socket_address: { address: instance.host, port_value: instance.port } } },
    // Weight 0 means "no traffic" in the registry; Envoy requires weight >= 1, so drain it instead.
    health_status: !instance.healthy ? e().unhealthy : instance.weight <= 0 ? e().draining : e().healthy,
    load_balancing_weight: { value: weight },
  };
  const keys = [...new Set([...Object.keys(instance.metadata), ...selectorKeys])].sort();
  if (keys.length > 0) {
    const fields: Record<string, object> = {};
    // google.protobuf.Value comes from protobufjs's bundled descriptors, which are camelCase even under keepCase.
    for (const k of keys) fields[k] = { stringValue: instanceLabel(instance, k) ?? '' };
    endpoint['metadata'] = { filter_metadata: { [LB_NAMESPACE]: { fields } } };
  }
  return endpoint;
}

function endpointWeight(weight: number): number {
  if (!Number.isFinite(weight) || weight < 1) return 1;
  return Math.min(Math.round(weight), MAX_ENDPOINT_WEIGHT);
}

/**
 * Where an endpoint goes in its locality: an IPv4 `ip:port` as one number (below 2^48, exact),
 * so the sort compares numbers; IPv6 as text, after every IPv4 endpoint (`compareOrder`).
 */
function endpointOrder(instance: Instance): number | string {
  if (isIP(instance.host) === 4) {
    const [a, b, c, d] = instance.host.split('.').map(Number) as [number, number, number, number];
    return (((a * 256 + b) * 256 + c) * 256 + d) * 65536 + instance.port;
  }
  return `${instance.host}\u0000${String(instance.port).padStart(5, '0')}`;
}

function compareOrder(a: number | string, b: number | string): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  return typeof b === 'number' ? 1 : compare(a, b);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * For proxyless gRPC: an API listener whose HttpConnectionManager fetches the route
 * configuration of the same name over ADS; the router filter must be the last (only) filter.
 */
export function buildListener(name: string): object {
  const hcm = {
    stat_prefix: name,
    rds: { config_source: adsSource(), route_config_name: name },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: anyOf(ROUTER_TYPE, {}) }],
  };
  return { name, api_listener: { api_listener: anyOf(HCM_TYPE, hcm) } };
}

/** One virtual host matching any authority, one catch-all route to the service's cluster. */
export function buildRouteConfiguration(name: string): object {
  return {
    name,
    virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '' }, route: { cluster: name } }] }],
  };
}
