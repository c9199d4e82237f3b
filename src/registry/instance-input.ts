import { isIP } from 'node:net';
import { DEFAULT_NAMESPACE, INSTANCE_ID, LABEL_KEY, MAX_LABELS, NAMESPACE_NAME, RESERVED_LABEL_PREFIX, SERVICE_NAME, type Instance } from '../model/instance';
import { ownString, SharedStrings } from '../model/own-string';
import { hasLoneSurrogate, LONE_SURROGATE_MESSAGE } from '../model/text';
import { unreachableKind } from './unreachable-host';

export interface InstanceDefaults {
  readonly ttlSeconds: number;
  /**
   * Labels it may carry: MAX_LABELS (the default) for a registration; stored records and the
   * configuration file's instances are read without a limit, so none written before it is lost.
   */
  readonly maxLabels?: number;
  /**
   * The shortest TTL it may ask: MIN_TTL_SECONDS (the default) for a registration; stored
   * records and the configuration file's instances are read with 0 (any TTL above 0), so none
   * registered or configured before the limit is lost.
   */
  readonly minTtlSeconds?: number;
}

/**
 * The expiry pass runs once a second (app.ts), so a shorter TTL expired no sooner than one
 * of a second, and asked its agent to heartbeat every few milliseconds.
 */
export const MIN_TTL_SECONDS = 1;

const FIELDS = new Set(['id', 'service', 'namespace', 'host', 'port', 'weight', 'metadata', 'locality', 'healthy', 'ephemeral', 'ttlSeconds']);
const LOCALITY_FIELDS = new Set(['region', 'zone', 'campus']);
/** How service and namespace names start, and their length (SERVICE_NAME, NAMESPACE_NAME). */
const NAME_FORM = '(starting with a letter or digit, at most 253)';

/** One shared object for every instance without metadata or locality. */
const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
/** Service and namespace names, and label values, repeat across instances (see SharedStrings). */
const names = new SharedStrings(100_000);
const labelValues = new SharedStrings(16_384);

export type InstanceParse = { ok: true; instance: Instance } | { ok: false; errors: string[] };

/**
 * Validates a registration (HTTP body, config entry, store record) into an Instance.
 * Every error names its field under `at` (e.g. `registry.instances[3].port`).
 */
export function parseInstance(input: unknown, defaults: InstanceDefaults, at = ''): InstanceParse {
  const errors: string[] = [];
  const field = (name: string) => (at ? `${at}.${name}` : name);
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { ok: false, errors: [`${at || 'instance'}: must be an object`] };
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!FIELDS.has(key)) errors.push(`${field(key)}: unknown field`);

  const invalid = (key: string, expected: string) => errors.push(invalidField(field(key), o[key], expected));
  const name = (key: string, pattern: RegExp, expected: string, fallback?: string): string => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'string' || !pattern.test(v)) invalid(key, expected);
    return typeof v === 'string' ? v : '';
  };
  const service = name('service', SERVICE_NAME, `a name of letters, digits, '_', '.', '-' ${NAME_FORM}`);
  const namespace = name('namespace', NAMESPACE_NAME, `a name of letters, digits, '_', '-' ${NAME_FORM}, no '.' (<service>.<namespace> names the cluster)`, DEFAULT_NAMESPACE);
  // Envoy takes endpoints by address: a host name would be left out of xDS while routing still counted it.
  const host = typeof o.host === 'string' && isIP(o.host) !== 0 ? canonicalAddress(o.host) : '';
  if (!host) invalid('host', 'an IP address (resolve a host name before registering)');
  // A zone names an interface, not the address: `::ffff:0.0.0.0%eth0` is checked as 0.0.0.0.
  const unreachable = host ? unreachableKind(canonicalAddress(host.split('%', 1)[0]!)) : undefined;
  if (unreachable) errors.push(`${field('host')}: ${shown(o.host)} is ${unreachable}; give the instance's reachable address (127.0.0.1 for one on the proxy's host)`);
  const port = o.port;
  const portOk = typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
  if (!portOk) invalid('port', 'an integer 1-65535');
  const weight = o.weight ?? 100;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 10000) invalid('weight', 'an integer 0-10000');
  const ttlSeconds = o.ttlSeconds ?? defaults.ttlSeconds;
  const minTtl = defaults.minTtlSeconds ?? MIN_TTL_SECONDS;
  if (typeof ttlSeconds !== 'number' || !(ttlSeconds > 0 && ttlSeconds >= minTtl) || ttlSeconds > 86400) {
    invalid('ttlSeconds', minTtl > 0 ? `a number of seconds from ${minTtl} to 86400 (expiry runs once a second)` : 'a number of seconds above 0, at most 86400');
  }
  for (const flag of ['healthy', 'ephemeral'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') invalid(flag, 'true or false');
  }
  const metadata = stringMap(o.metadata, field('metadata'), LABEL_KEY, errors, defaults.maxLabels ?? MAX_LABELS);
  for (const [k, v] of Object.entries(metadata)) {
    // "" means "lacks this label" in routing decisions and in envoy.lb; the prefix is metaroute's own.
    if (v === '') errors.push(`${field('metadata')}.${k}: must not be empty (omit the label instead)`);
    if (k.startsWith(RESERVED_LABEL_PREFIX)) errors.push(`${field('metadata')}.${k}: the ${RESERVED_LABEL_PREFIX} prefix is reserved (locality labels come from locality)`);
  }
  const locality = stringMap(o.locality, field('locality'), /^/, errors, defaults.maxLabels ?? MAX_LABELS);
  for (const key of Object.keys(locality)) if (!LOCALITY_FIELDS.has(key)) errors.push(`${field('locality')}.${key}: unknown field (region, zone, campus)`);
  const id = o.id === undefined ? `${host}:${String(port)}` : o.id;
  if (typeof id !== 'string' || !INSTANCE_ID.test(id)) {
    if (o.id !== undefined) invalid('id', `an id of letters, digits, '_', '.', '-', ':' (starting with a letter, digit or ':', at most 253)`);
    // A bad host or port has its own error; a good one can still make a bad default (an IPv6 zone's '%').
    else if (host && portOk) errors.push(`${field('id')}: required here: the default ${id} is no id (letters, digits, '_', '.', '-', ':')`);
  }
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    instance: {
      id: ownString(id as string), // strings of its own: see ownString
      service: names.get(service),
      namespace: names.get(namespace),
      host: ownString(host),
      port: port as number,
      weight: weight as number,
      metadata: Object.keys(metadata).length > 0 ? metadata : EMPTY,
      locality: Object.keys(locality).length > 0 ? locality : EMPTY,
      healthy: o.healthy !== false,
      ephemeral: o.ephemeral !== false,
      ttlSeconds: ttlSeconds as number,
    },
  };
}

/** `required` only for a field not sent; a value sent is named, so a bad one is not taken for a missing one. */
export function invalidField(at: string, value: unknown, expected: string): string {
  return value === undefined ? `${at}: required, ${expected}` : `${at}: must be ${expected}, got ${shown(value)}`;
}

/** A sent value as an error names it: JSON, cut short (a body may send a megabyte where a name belongs). */
function shown(value: unknown): string {
  if (value !== null && typeof value === 'object') return Array.isArray(value) ? 'a list' : 'an object';
  const json = typeof value === 'number' ? String(value) : JSON.stringify(value); // NaN and Infinity too (YAML has them)
  if (json.length <= 80) return json;
  const cut = /[\ud800-\udbff]$/.test(json.slice(0, 77)) ? 76 : 77; // never half a surrogate pair
  return `${json.slice(0, cut)}...`;
}

function stringMap(value: unknown, at: string, keyPattern: RegExp, errors: string[], maxEntries: number): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    errors.push(`${at}: must be a map of string to string`);
    return {};
  }
  const entries = Object.keys(value).length;
  if (entries > maxEntries) {
    errors.push(`${at}: ${entries} entries, at most ${maxEntries}`);
    return {};
  }
  // One copy, checked and kept (no second object to disagree with it, e.g. over `__proto__`): a
  // spread of a JSON-parsed object is sized to its entries (40 bytes for two labels, where an
  // object filled key by key keeps room for four), and its values become shared strings of its own.
  const copy: Record<string, unknown> = { ...value };
  for (const [k, v] of Object.entries(copy)) {
    if (!keyPattern.test(k) || hasLoneSurrogate(k)) errors.push(`${at}.${k}: invalid key`);
    // The value sent is named, as every other field's is (`{"tier": 1}` read as a string refused for no stated reason).
    else if (typeof v !== 'string') errors.push(`${at}.${k}: must be a string of at most 1024 characters, got ${shown(v)}`);
    else if (v.length > 1024) errors.push(`${at}.${k}: must be a string of at most 1024 characters, got ${v.length} characters`);
    else if (hasLoneSurrogate(v)) errors.push(`${at}.${k}: ${LONE_SURROGATE_MESSAGE}`);
    else copy[k] = labelValues.get(v);
  }
  if (Object.getOwnPropertySymbols(copy).length > 0) errors.push(`${at}: keys must be strings`);
  return copy as Record<string, string>;
}

/**
 * For a list registered together (a batch, the configuration's instances): the error for an
 * instance at the address of an earlier one of its service with another id, else undefined.
 * One process listens at an address, and the registry keeps one instance per address.
 */
export function sameAddressCheck(): (instance: Instance, at: string) => string | undefined {
  const seen = new Map<string, { id: string; at: string }>();
  return (instance, at) => {
    const address = `${instance.namespace}/${instance.service}/${instance.host}:${instance.port}`;
    const first = seen.get(address);
    if (!first) seen.set(address, { id: instance.id, at });
    else if (first.id !== instance.id) return `${at}.port: ${instance.host}:${instance.port} is the address of ${first.at} (id ${first.id}) in the same service; an address holds one instance`;
    return undefined;
  };
}

/**
 * One spelling per address, so that an address is one key wherever instances are told apart by
 * it (one instance per address, a token's displacement check): IPv6 compressed and in lower case
 * (RFC 5952, as URLs write it), an IPv4-mapped IPv6 address as the IPv4 address. `::ffff:10.0.0.5`
 * and `FD00::0005` could otherwise register beside `10.0.0.5` and `fd00::5`. A zone (`%eth0`) is
 * kept as sent.
 */
function canonicalAddress(host: string): string {
  if (isIP(host) !== 6 || host.includes('%')) return host;
  const compressed = new URL(`http://[${host}]`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
  if (!mapped) return compressed;
  const high = parseInt(mapped[1]!, 16);
  const low = parseInt(mapped[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}
