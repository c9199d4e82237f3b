import type { Metadata } from '@grpc/grpc-js';
import type { Side } from '../model/side';
import type { Caller } from '../context/request-context';
import { NO_CALLER } from '../context/request-context';
import { DEFAULT_NAMESPACE, type Labels } from '../model/instance';
import { WireError } from './wire';

/**
 * gRPC initial metadata the caller's Envoy attaches to every ext_proc stream
 * (`grpc_service.initial_metadata` in its bootstrap): who the caller is.
 */
export const CALLER_SERVICE = 'x-metaroute-caller-service';
export const CALLER_NAMESPACE = 'x-metaroute-caller-namespace';
export const CALLER_LABELS = 'x-metaroute-caller-labels';
/** Comma list of the caller's label keys that are transitive (the agent's `metaroute.transitive`). */
export const CALLER_TRANSITIVE = 'x-metaroute-caller-transitive';
/** `inbound` / `outbound` in a sidecar; absent means an edge gateway, where client headers are not trusted. */
export const SIDE = 'x-metaroute-side';

/** The ext_proc stream's gRPC metadata (the caller's Envoy bootstrap) is malformed: its streams fail as a malformed frame does. */
export class StreamMetadataError extends WireError {}

/** The stream's side; a value other than the two (a typo in a sidecar's bootstrap) is refused rather than taken for an edge. */
export function sideFromMetadata(metadata: Metadata): Side {
  const side = first(metadata, SIDE);
  if (side === 'inbound' || side === 'outbound') return side;
  if (metadata.get(SIDE).length === 0 || side === '') return 'edge'; // empty, as other x-metaroute-* values, is none
  throw new StreamMetadataError(`${SIDE} must be inbound or outbound (absent at a gateway), got ${quoted(String(metadata.get(SIDE)[0]))}`);
}

const MAX_CACHED = 1024;
const callers = new Map<string, Caller>();

/** Parsed once per distinct caller: a sidecar sends the same values on every stream. Malformed values are refused (StreamMetadataError), never cached. */
export function callerFromMetadata(metadata: Metadata): Caller {
  const service = first(metadata, CALLER_SERVICE);
  if (!service) return NO_CALLER;
  const namespace = first(metadata, CALLER_NAMESPACE) || DEFAULT_NAMESPACE;
  const labels = first(metadata, CALLER_LABELS);
  const transitive = first(metadata, CALLER_TRANSITIVE);
  const cacheKey = `${service}\u0000${namespace}\u0000${labels}\u0000${transitive}`;
  let caller = callers.get(cacheKey);
  if (!caller) {
    const parsed = parseLabelList(labels);
    caller = { service, namespace, labels: parsed, ...transitiveKeys(transitive, parsed) };
    if (callers.size >= MAX_CACHED) callers.clear();
    callers.set(cacheKey, caller);
  }
  return caller;
}

/** `namespace/service` as the stream names its caller, whatever else it sends; '' for none (a gateway). For a refusal's log line. */
export function callerName(metadata: Metadata): string {
  const service = first(metadata, CALLER_SERVICE);
  return service && `${first(metadata, CALLER_NAMESPACE) || DEFAULT_NAMESPACE}/${service}`;
}

function first(metadata: Metadata, key: string): string {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : '';
}

/**
 * `k=v,k=v`, empty entries skipped. An entry without a key and `=` (`env:dev1`, a typo in a
 * bootstrap) is refused: dropped, it would silently lose a lane. So is a key given twice
 * (`env=dev1,env=dev2`): either value could be the one meant, and the other's lane would be lost.
 */
export function parseLabelList(text: string): Labels {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq).trim() : '';
    if (key === '') throw new StreamMetadataError(`${CALLER_LABELS} must be key=value pairs separated by commas, got ${quoted(pair)}`);
    if (Object.hasOwn(labels, key)) throw new StreamMetadataError(`${CALLER_LABELS} gives ${quoted(key)} twice: one value per key`);
    labels[key] = pair.slice(eq + 1).trim();
  }
  return labels;
}

/** The keys outbound calls carry on; each must be one of the caller's labels, as the agent requires of `metaroute.transitive`. */
function transitiveKeys(transitive: string, labels: Labels): { transitive?: string[] } {
  const keys = keyList(transitive);
  const missing = keys.filter((k) => !Object.hasOwn(labels, k));
  if (missing.length > 0) throw new StreamMetadataError(`${CALLER_TRANSITIVE} names ${missing.map(quoted).join(', ')}, not among ${CALLER_LABELS}: nothing to carry on`);
  return keys.length > 0 ? { transitive: keys } : {};
}

/** `env, user` as x-metaroute-caller-transitive writes keys: split at commas, trimmed, empty ones dropped. */
export function keyList(text: string): string[] {
  return text.split(',').map((k) => k.trim()).filter((k) => k !== '');
}

const quoted = (text: string): string => JSON.stringify(text.slice(0, 64));
