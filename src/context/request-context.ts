import type { Labels } from '../model/instance';
import type { LabelSource } from '../model/rule';
import { headerValue, type HeaderList } from '../model/headers';

/** Who is calling, as the caller's sidecar tells metaroute (gRPC initial metadata of the ext_proc stream). */
export interface Caller {
  readonly service: string;
  readonly namespace: string;
  readonly labels: Labels;
  /** Label keys of the calling instance that travel the whole call chain (its outbound calls carry them as persistent metadata). */
  readonly transitive?: readonly string[];
}

export const NO_CALLER: Caller = { service: '', namespace: '', labels: {} };

/** Lazily decoded parts of the request that few rules need. */
export interface LazyRequestParts {
  /** Dynamic metadata Envoy forwarded (metadata_context.filter_metadata), by namespace. */
  filterMetadata(): Record<string, Record<string, unknown>>;
  /** CEL attributes Envoy sent, by namespace (`envoy.filters.http.ext_proc`). */
  attributes(): Record<string, Record<string, unknown>>;
}

export interface IdentityOptions {
  /** The dynamic-metadata namespace holding the verified JWT payload (jwt_authn's). */
  readonly metadataNamespace: string;
  /** jwt_authn's `payload_in_metadata` name. */
  readonly payloadKey: string;
}

const NO_PARTS: LazyRequestParts = { filterMetadata: () => ({}), attributes: () => ({}) };
/** The key Envoy's ext_proc filter sends its `request_attributes` under. */
export const EXT_PROC_ATTRIBUTES = 'envoy.filters.http.ext_proc';

/**
 * One request's traffic labels, extracted on demand: only what some rule asks for is
 * parsed (the query string, cookies, forwarded metadata), and each at most once.
 */
export class RequestContext {
  private queryParams: Map<string, string> | undefined;
  private cookies: Map<string, string> | undefined;
  private claimsCache: Record<string, unknown> | null | undefined;
  private attributesCache: Record<string, unknown> | undefined;
  /** Claims verified by metaroute itself (its own JWT check) take precedence over forwarded ones. */
  verifiedClaims: Record<string, unknown> | undefined;

  constructor(
    readonly headers: HeaderList,
    readonly caller: Caller,
    private readonly identity: IdentityOptions,
    private readonly parts: LazyRequestParts = NO_PARTS,
  ) {}

  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }

  get method(): string {
    return this.header(':method') ?? '';
  }

  /** :path without the query string. */
  get path(): string {
    const full = this.header(':path') ?? '';
    const q = full.indexOf('?');
    return q < 0 ? full : full.slice(0, q);
  }

  get authority(): string {
    return this.header(':authority') ?? this.header('host') ?? '';
  }

  query(key: string): string | undefined {
    this.queryParams ??= parseQuery(this.header(':path') ?? '');
    return this.queryParams.get(key);
  }

  cookie(key: string): string | undefined {
    this.cookies ??= parseCookies(this.header('cookie') ?? '');
    return this.cookies.get(key);
  }

  /** A claim of the verified identity; dotted keys walk nested objects (`realm.role`). */
  claim(key: string): string | undefined {
    const claims = this.claims();
    if (!claims) return undefined;
    let node: unknown = claims;
    for (const part of key.split('.')) {
      if (node === null || typeof node !== 'object') return undefined;
      node = (node as Record<string, unknown>)[part];
    }
    return scalarText(node);
  }

  claims(): Record<string, unknown> | undefined {
    if (this.verifiedClaims) return this.verifiedClaims;
    if (this.claimsCache === undefined) {
      const payload = this.parts.filterMetadata()[this.identity.metadataNamespace]?.[this.identity.payloadKey];
      this.claimsCache = payload && typeof payload === 'object' ? (payload as Record<string, unknown>) : null;
    }
    return this.claimsCache ?? undefined;
  }

  /** The downstream address Envoy reports (`source.address` attribute), without the port. */
  callerIp(): string | undefined {
    const address = this.attribute('source.address');
    return address === undefined ? undefined : stripPort(address);
  }

  /** The cluster Envoy's route table chose for this request (`xds.cluster_name` attribute). */
  routedCluster(): string | undefined {
    return this.attribute('xds.cluster_name') || undefined;
  }

  /** A string CEL attribute from ext_proc's `request_attributes`; all of them decoded once per request. */
  private attribute(name: string): string | undefined {
    this.attributesCache ??= this.parts.attributes()[EXT_PROC_ATTRIBUTES] ?? {};
    const value = this.attributesCache[name];
    return typeof value === 'string' ? value : undefined;
  }

  label(source: LabelSource): string | undefined {
    switch (source.type) {
      case 'header':
        return this.header(source.key);
      case 'query':
        return this.query(source.key);
      case 'cookie':
        return this.cookie(source.key);
      case 'method':
        return this.method;
      case 'path':
        return this.path;
      case 'caller_service':
        return this.caller.service || undefined;
      case 'caller_ip':
        return this.callerIp();
      case 'caller_metadata':
        return this.caller.labels[source.key];
      case 'claim':
        return this.claim(source.key);
      case 'env':
        return process.env[source.key];
    }
  }
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function stripPort(address: string): string {
  if (address.startsWith('[')) return address.slice(1, address.indexOf(']'));
  const colon = address.lastIndexOf(':');
  return colon > 0 && address.indexOf(':') === colon ? address.slice(0, colon) : address;
}

function safeDecode(text: string): string {
  // Most parameters carry no escapes; skipping the regex and decoder for them is most of parseQuery's cost.
  if (text.indexOf('%') < 0 && text.indexOf('+') < 0) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text; // a malformed escape is kept verbatim rather than failing the request
  }
}

/** First value wins for a repeated parameter. */
function parseQuery(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = path.indexOf('?');
  if (q < 0) return out;
  const end = path.indexOf('#', q);
  for (const pair of path.slice(q + 1, end < 0 ? undefined : end).split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = safeDecode(eq < 0 ? pair : pair.slice(0, eq));
    if (!out.has(key)) out.set(key, eq < 0 ? '' : safeDecode(pair.slice(eq + 1)));
  }
  return out;
}

function parseCookies(header: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    if (key && !out.has(key)) out.set(key, part.slice(eq + 1).trim());
  }
  return out;
}
