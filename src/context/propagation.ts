import type { HeaderToSet, Mutation } from '../model/decision';
import { headerValue, isHeaderName, isHeaderValue, type HeaderList } from '../model/headers';
import type { Labels } from '../model/instance';
import type { Side } from '../model/side';
import type { Caller } from './request-context';
import { fnv1a } from '../model/hash';

/** CloudWeGo metainfo header prefixes. */
export const PERSIST_PREFIX = 'rpc-persist-';
export const TRANSIT_PREFIX = 'rpc-transit-';
export const BACKWARD_PREFIX = 'rpc-backward-';

/**
 * Markers the receiving side adds so the sending side of the same sidecar can tell a
 * value the application merely copied (drop it: one hop only) from one it set itself
 * (forward it). They carry `key=hash(value)` pairs, never the values. Their names carry
 * metainfo prefixes because an application copies exactly those (`rpc-persist-*` onto the
 * calls it makes, `rpc-backward-*` onto its answer): an `x-` marker never came back
 * (found through real sidecars). The sending side always removes them.
 */
export const UPSTREAM_TRANSIT_MARKER = 'rpc-persist-metaroute-transit-seen';
export const DOWNSTREAM_BACKWARD_MARKER = 'rpc-backward-metaroute-backward-seen';
/** The same for SCT-CUSTOM-DISPOSABLE-METADATA, a one-hop header carried whole: the hash of its value. */
export const UPSTREAM_DISPOSABLE_MARKER = 'rpc-persist-metaroute-disposable-seen';

/**
 * Spring Cloud Tencent's and Polaris's spellings of transitive (whole-chain) metadata, read
 * beside metainfo's `rpc-persist-<k>`: `X-SCT-Metadata-Transitive-<k>: v`,
 * `X-Polaris-Metadata-Transitive-<k>: v` (SCT reads both alike; polaris-java writes its
 * whole-chain values so) and `SCT-CUSTOM-METADATA: <URL-encoded JSON {"k": "v"}>`.
 */
export const SCT_TRANSITIVE_PREFIX = 'x-sct-metadata-transitive-';
export const POLARIS_TRANSITIVE_PREFIX = 'x-polaris-metadata-transitive-';
export const SCT_CUSTOM_METADATA = 'sct-custom-metadata';

/**
 * SCT's one-hop ("disposable") metadata, encoded as SCT-CUSTOM-METADATA is: the values the
 * caller sets for its direct callee only. SCT's callee keeps what it received as "upstream"
 * and never sends it on (its own calls carry its own disposable values), so this header
 * arriving unchanged on the next call is a copy.
 */
export const SCT_CUSTOM_DISPOSABLE_METADATA = 'sct-custom-disposable-metadata';

/** The per-key spellings of a persistent value, in the order a value is taken from. */
const PERSISTENT_PREFIXES = [PERSIST_PREFIX, SCT_TRANSITIVE_PREFIX, POLARIS_TRANSITIVE_PREFIX];

/**
 * The header carrying metadata key `key`: metainfo keys are upper case with `_`
 * (`USER_ID`), on the wire lower case with `-` (`rpc-persist-user-id`); any spelling of
 * the key maps to the same header.
 */
export function metadataHeader(prefix: string, key: string): string {
  return prefix + key.toLowerCase().replace(/_/g, '-');
}

/** The whole-chain value of metadata key `key` in `headers`, in any of the spellings metainfo, SCT and Polaris use. */
export function persistentValue(headers: HeaderList, key: string): string | undefined {
  // An empty value is none (an app copying headers blindly sends them): the next line or spelling, or the caller's label, decides.
  const value =
    firstNonEmpty(headers, metadataHeader(PERSIST_PREFIX, key)) ??
    firstNonEmpty(headers, SCT_TRANSITIVE_PREFIX + key.toLowerCase()) ??
    firstNonEmpty(headers, POLARIS_TRANSITIVE_PREFIX + key.toLowerCase());
  if (value) return value;
  const custom = sctCustomMetadata(headers);
  if (custom === undefined) return undefined;
  const wanted = wireKey(key);
  for (const [k, v] of Object.entries(custom)) if (typeof v === 'string' && v !== '' && wireKey(k) === wanted) return v;
  return undefined;
}

/** The first line of header `name` with a value, as `persistentMetadata` reads them. */
function firstNonEmpty(headers: HeaderList, name: string): string | undefined {
  for (let i = 0; i < headers.names.length; i++) if (headers.names[i] === name && headers.values[i] !== '') return headers.values[i];
  return undefined;
}

/**
 * SCT-CUSTOM-METADATA as the JSON object it carries, every entry kept (SCT writes
 * `URLEncoder.encode(json)`, so `+` is a space); undefined when absent or malformed.
 */
function sctCustomMetadata(headers: HeaderList): Record<string, unknown> | undefined {
  const text = headerValue(headers, SCT_CUSTOM_METADATA);
  return text === undefined ? undefined : parseSctCustomMetadata(text);
}

/**
 * Readable means a JSON object that also serializes back: `JSON.parse` takes nesting thousands
 * deep (a 10 KB header) that `JSON.stringify`, which counting and merging use, overflows the stack on.
 */
function parseSctCustomMetadata(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(decodeURIComponent(text.replace(/\+/g, ' '))) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    JSON.stringify(value);
    return value as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A persistent value and the key spelling it is written under in SCT-CUSTOM-METADATA. */
interface Persistent {
  readonly name: string;
  readonly value: string;
  /** False for a value whose bytes were not UTF-8 (decoded to U+FFFD): a copy would not be the bytes sent, so only the line as sent travels. */
  readonly copied: boolean;
}

/**
 * The header limits of the Envoy asking (its HTTP connection manager's `max_headers_count` and
 * `max_request_headers_kb`): Envoy fails a request (500, whatever `failure_mode_allow` says)
 * whose header mutation would take it past them.
 */
export interface HeaderLimits {
  readonly maxHeadersCount: number;
  readonly maxHeaderBytes: number;
}

const REPLACEMENT_CHARACTER = '\ufffd';

/** Kept free for what routing adds after propagation: `x-metaroute-cluster` and a cluster name. */
const ROUTING_HEADERS = 1;
const ROUTING_BYTES = 256;

/**
 * The caller's sidecar, on its outbound call: whole-chain metadata in one spelling is
 * written in the others too (`rpc-persist-<k>`, `X-SCT-Metadata-Transitive-<k>`,
 * `X-Polaris-Metadata-Transitive-<k>`, and an entry of SCT-CUSTOM-METADATA), so metainfo,
 * SCT and polaris-java applications downstream see one lane;
 * and the calling instance's transitive keys (`caller.transitive`) become persistent
 * metadata when the request does not carry them yet, so a lane set only as an instance
 * label survives hops through baseline services. A key carried in several spellings takes
 * the value `persistentValue()` routes by: `rpc-persist-<k>`, then SCT's header, then
 * Polaris's, then SCT-CUSTOM-METADATA, then the caller's label. A key that is no header name,
 * or a value with a control character, is written into SCT-CUSTOM-METADATA only; when the
 * copies would take the request past Envoy's header limits, none is written.
 */
export function persistentMetadata(headers: HeaderList, transitive: readonly string[], labels: Labels, mutation: Mutation, limits: HeaderLimits): void {
  if (transitive.length === 0 && !headers.names.some(isPersistentName)) return; // the common case allocates nothing
  const values = new Map<string, Persistent>(); // wire key (lower case, '-') -> value
  const present = new Set<string>();
  for (const prefix of PERSISTENT_PREFIXES) {
    for (let i = 0; i < headers.names.length; i++) {
      const name = headers.names[i]!;
      if (!name.startsWith(prefix)) continue;
      const key = wireKey(name.slice(prefix.length));
      if (MARKER_KEYS.has(key)) continue; // the markers are ours (this call removes them); in another spelling, forged
      if (headers.values[i] === '') continue; // none: another spelling or the caller's transitive label fills it (overwriting)
      present.add(name);
      if (!values.has(key)) values.set(key, { name: key, value: headers.values[i]!, copied: !headers.values[i]!.includes(REPLACEMENT_CHARACTER) });
    }
  }
  const custom = sctCustomMetadata(headers);
  for (const [name, value] of Object.entries(custom ?? {})) {
    if (typeof value === 'string' && value !== '' && !values.has(wireKey(name)) && !MARKER_KEYS.has(wireKey(name))) values.set(wireKey(name), { name, value, copied: true });
  }
  for (const name of transitive) {
    const value = labels[name];
    if (value !== undefined && !values.has(wireKey(name))) values.set(wireKey(name), { name, value, copied: true });
  }
  if (values.size === 0) return;
  const writes: HeaderToSet[] = [];
  for (const [key, { value, copied }] of values) {
    // Envoy fails a request whose mutation holds a name or value no header may have: such an
    // entry travels inside SCT-CUSTOM-METADATA only.
    if (!copied || !isHeaderName(PERSIST_PREFIX + key) || !isHeaderValue(value)) continue;
    for (const prefix of PERSISTENT_PREFIXES) {
      if (!present.has(prefix + key)) writes.push({ key: prefix + key, value });
    }
  }
  const merged = mergeSctCustomMetadata(headers, custom, values);
  if (merged !== undefined) writes.push({ key: SCT_CUSTOM_METADATA, value: merged });
  // All or none, so that every spelling downstream reads the same lane: with none the request
  // goes on as it came (which Envoy took), rather than failing on the copies.
  if (withinLimits(headers, writes, limits)) mutation.set.push(...writes);
}

/** Whether `headers` with `writes` set (and what routing adds) stay within Envoy's limits. */
function withinLimits(headers: HeaderList, writes: readonly HeaderToSet[], limits: HeaderLimits): boolean {
  let count = headers.names.length + ROUTING_HEADERS;
  let bytes = headers.bytes + ROUTING_BYTES;
  for (const { key, value } of writes) {
    const before = headerValue(headers, key);
    if (before === undefined) count++;
    bytes += key.length + utf8Bytes(value) - (before === undefined ? 0 : key.length + utf8Bytes(before));
  }
  return count <= limits.maxHeadersCount && bytes <= limits.maxHeaderBytes;
}

/**
 * SCT-CUSTOM-METADATA with every persistent value in it: the entries already there are kept
 * (their spelling, and values this sidecar does not route by), an entry for a key is set to
 * the value routed by, missing keys are added. Undefined when nothing changes, or when the
 * header is there but unreadable (left as it is: not ours to destroy; the per-key
 * `X-SCT-Metadata-Transitive-<k>` and `X-Polaris-Metadata-Transitive-<k>` headers still carry the lane).
 */
function mergeSctCustomMetadata(headers: HeaderList, custom: Record<string, unknown> | undefined, values: ReadonlyMap<string, Persistent>): string | undefined {
  if (custom === undefined && headerValue(headers, SCT_CUSTOM_METADATA) !== undefined) return undefined;
  const merged: Record<string, unknown> = { ...custom };
  const spelled = new Map<string, string>(); // wire key -> the spelling already in the map
  for (const name of Object.keys(merged)) if (!spelled.has(wireKey(name))) spelled.set(wireKey(name), name);
  let changed = false;
  for (const [key, { name, value, copied }] of values) {
    if (!copied) continue;
    const at = spelled.get(key) ?? name;
    if (merged[at] !== value) {
      merged[at] = value;
      changed = true;
    }
  }
  return changed ? encodeURIComponent(JSON.stringify(merged)) : undefined;
}

function isPersistentName(name: string): boolean {
  return persistentSpelling(name) >= 0 || name === SCT_CUSTOM_METADATA;
}

/** The keys of metaroute's own `rpc-persist-*` markers: never whole-chain metadata, in whichever spelling they come. */
const MARKER_KEYS: ReadonlySet<string> = new Set([UPSTREAM_TRANSIT_MARKER, UPSTREAM_DISPOSABLE_MARKER].map((marker) => marker.slice(PERSIST_PREFIX.length)));

function wireKey(key: string): string {
  return key.toLowerCase().replace(/_/g, '-');
}

/**
 * Bytes of the metadata a request carries, as `extProc.maxMetadataBytes` bounds it:
 * `rpc-transit-*`, `rpc-backward-*`, metaroute's markers and SCT-CUSTOM-DISPOSABLE-METADATA
 * whole (name and value), and each whole-chain key as its `rpc-persist-<k>` header, with the
 * most its spellings carry in any one of them (lines for the same key within one spelling add
 * up). An outbound call writes every whole-chain value in each spelling (`persistentMetadata`):
 * those copies must not count again at the next hop, a client's own extra lines must.
 * Bytes are UTF-8 bytes, as on the wire (header values arrive decoded from UTF-8).
 */
export function metadataBytes(headers: HeaderList): number {
  let bytes = 0;
  let chain: Map<string, number[]> | undefined; // wire key -> bytes in each spelling
  for (let i = 0; i < headers.names.length; i++) {
    const name = headers.names[i]!;
    const value = headers.values[i]!;
    const spelling = persistentSpelling(name);
    const key = spelling < 0 ? '' : wireKey(name.slice(PERSISTENT_PREFIXES[spelling]!.length));
    if (spelling >= 0 && !MARKER_KEYS.has(key)) {
      chain = addChainBytes(chain, key, spelling, utf8Bytes(value));
    } else if (name.startsWith('rpc-') || name === SCT_CUSTOM_DISPOSABLE_METADATA || spelling >= 0) {
      bytes += name.length + utf8Bytes(value);
    } else if (name === SCT_CUSTOM_METADATA) {
      const custom = parseSctCustomMetadata(value);
      if (custom === undefined) {
        bytes += name.length + utf8Bytes(value); // unreadable: forwarded as it is
        continue;
      }
      for (const [entryKey, entry] of Object.entries(custom)) {
        chain = addChainBytes(chain, wireKey(entryKey), PERSISTENT_PREFIXES.length, utf8Bytes(typeof entry === 'string' ? entry : JSON.stringify(entry)));
      }
      // Forwarded as sent when nothing changes it: whitespace, repeated keys or longer escapes beyond the form metaroute writes count too.
      bytes += Math.max(0, utf8Bytes(value) - encodeURIComponent(JSON.stringify(custom)).length);
    }
  }
  if (chain) for (const spellings of chain.values()) bytes += Math.max(...spellings);
  return bytes;
}

/** Index in PERSISTENT_PREFIXES of the per-key whole-chain spelling `name` is in, or -1. */
function persistentSpelling(name: string): number {
  // Every header of every edge and outbound call passes here: plain comparisons, no closure.
  for (let i = 0; i < PERSISTENT_PREFIXES.length; i++) if (name.startsWith(PERSISTENT_PREFIXES[i]!)) return i;
  return -1;
}

/** Adds one line of whole-chain key `key` in spelling `spelling` (the last one: SCT-CUSTOM-METADATA's entries), counted as `rpc-persist-<key>`. */
function addChainBytes(chain: Map<string, number[]> | undefined, key: string, spelling: number, valueBytes: number): Map<string, number[]> {
  chain ??= new Map();
  let spellings = chain.get(key);
  if (!spellings) chain.set(key, (spellings = new Array<number>(PERSISTENT_PREFIXES.length + 1).fill(0)));
  spellings[spelling]! += PERSIST_PREFIX.length + utf8Bytes(key) + valueBytes;
  return chain;
}

/** Header names are ASCII (HTTP/2 refuses others), so `name.length` counts them; values and SCT entry keys need this. */
function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function valueHash(value: string): string {
  return fnv1a(value).toString(36);
}

/**
 * Receiving side of a hop (the callee's inbound call for requests, the caller's outbound
 * call for responses): the values under `prefix` stay visible to the application; a
 * marker records them so the sending side can recognise copies.
 */
export function markReceived(headers: HeaderList, prefix: string, marker: string, mutation: Mutation): void {
  const pairs: string[] = [];
  for (let i = 0; i < headers.names.length; i++) {
    const name = headers.names[i]!;
    if (name.startsWith(prefix) && name !== marker) pairs.push(`${name.slice(prefix.length)}=${valueHash(headers.values[i]!)}`);
  }
  // Always overwrite: a marker arriving from outside is not ours and must not suppress anything.
  if (pairs.length > 0) mutation.set.push({ key: marker, value: pairs.join(',') });
  else if (headerValue(headers, marker) !== undefined) mutation.remove.push(marker);
}

/**
 * Sending side of a hop: drops the values the application copied unchanged from what
 * it received (they were for one hop), keeps values it set or changed, drops the marker.
 */
export function dropCopied(headers: HeaderList, prefix: string, marker: string, mutation: Mutation): void {
  const received = receivedHashes(headers, marker);
  if (received === undefined) return;
  mutation.remove.push(marker);
  for (let i = 0; i < headers.names.length; i++) {
    const name = headers.names[i]!;
    if (!name.startsWith(prefix) || mutation.remove.includes(name)) continue;
    if (received.get(name.slice(prefix.length))?.has(valueHash(headers.values[i]!))) mutation.remove.push(name);
  }
}

/**
 * key → hashes of the values received under it, from every line of the marker: an app that
 * called several services copies one marker line per answer (Go's `Header().Add`), or joins
 * them with ", ". Undefined without a marker.
 */
function receivedHashes(headers: HeaderList, marker: string): Map<string, Set<string>> | undefined {
  let received: Map<string, Set<string>> | undefined;
  for (let i = 0; i < headers.names.length; i++) {
    if (headers.names[i] !== marker) continue;
    received ??= new Map();
    for (const pair of headers.values[i]!.split(',')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const key = pair.slice(0, eq).trim();
      if (key === '') continue;
      let hashes = received.get(key);
      if (!hashes) received.set(key, (hashes = new Set()));
      hashes.add(pair.slice(eq + 1).trim());
    }
  }
  return received;
}

/** markReceived() for a one-hop header carried whole: the marker holds the hash of its value. */
function markReceivedHeader(headers: HeaderList, name: string, marker: string, mutation: Mutation): void {
  const value = headerValue(headers, name);
  if (value !== undefined) mutation.set.push({ key: marker, value: valueHash(value) });
  else if (headerValue(headers, marker) !== undefined) mutation.remove.push(marker);
}

/** dropCopied() for a one-hop header carried whole: dropped when its value is the one received. */
function dropCopiedHeader(headers: HeaderList, name: string, marker: string, mutation: Mutation): void {
  const markerValue = headerValue(headers, marker);
  if (markerValue === undefined) return;
  mutation.remove.push(marker);
  const value = headerValue(headers, name);
  if (value !== undefined && valueHash(value) === markerValue) mutation.remove.push(name);
}

/**
 * Request headers: the callee's inbound call marks received one-hop values (`rpc-transit-*`,
 * SCT-CUSTOM-DISPOSABLE-METADATA); the caller's outbound call drops copied ones, and writes
 * persistent values in every spelling (and the caller's transitive labels); the
 * application copies persistent values and they travel to the end of the chain.
 */
export function requestPropagation(side: Side, headers: HeaderList, mutation: Mutation, limits: HeaderLimits, caller?: Caller): void {
  if (side === 'inbound') {
    markReceived(headers, TRANSIT_PREFIX, UPSTREAM_TRANSIT_MARKER, mutation);
    markReceivedHeader(headers, SCT_CUSTOM_DISPOSABLE_METADATA, UPSTREAM_DISPOSABLE_MARKER, mutation);
  } else if (side === 'outbound') {
    dropCopied(headers, TRANSIT_PREFIX, UPSTREAM_TRANSIT_MARKER, mutation);
    dropCopiedHeader(headers, SCT_CUSTOM_DISPOSABLE_METADATA, UPSTREAM_DISPOSABLE_MARKER, mutation);
    persistentMetadata(headers, caller?.transitive ?? [], caller?.labels ?? {}, mutation, limits);
  }
}

/**
 * Response headers, mirrored: the caller's outbound call marks backward values coming
 * back from its callee; the callee's inbound call (answering its own caller) drops the
 * ones its application merely copied, so a backward value travels exactly one hop.
 */
export function responsePropagation(side: Side, headers: HeaderList, mutation: Mutation): void {
  if (side === 'outbound') markReceived(headers, BACKWARD_PREFIX, DOWNSTREAM_BACKWARD_MARKER, mutation);
  else if (side === 'inbound') dropCopied(headers, BACKWARD_PREFIX, DOWNSTREAM_BACKWARD_MARKER, mutation);
}
