import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { adminAuthProblem, isLoopback, parseAuthConfig, type AuthConfig } from '../admin/auth';
import type { EdgeGuardConfig, JwtConfig } from '../context/identity';
import type { Instance } from '../model/instance';
import { LONE_SURROGATE_MESSAGE, loneSurrogatePath } from '../model/text';
import { formatPath } from '../rules/errors';
import { parseInstance, sameAddressCheck } from '../registry/instance-input';
import { LOG_LEVELS, type LogLevel } from '../log/logger';
import { DEFAULT_STORE, parseStoreConfig, type StoreConfig } from './store-config';
import { DEFAULT_DEBOUNCE_MS, DEFAULT_MAX_DEBOUNCE_MS } from '../xds/debounce';
import { parseExtProcClients, parseTls, parseXdsClients, xdsClientsProblem, type ExtProcClientsConfig, type TlsConfig, type XdsClientsConfig } from './grpc-security';
import { checkReadableFile } from './readable-file';

export type { ExtProcClientsConfig, TlsConfig, XdsClientsConfig } from './grpc-security';

/** Either a built-in router's config (`name`) or a custom router to load (`module`). */
export interface RouterConfig {
  readonly name: string | undefined;
  /** Path of a CommonJS module exporting `createRouter()` (or a default export doing so). */
  readonly module: string | undefined;
  readonly config: unknown;
}

export interface ServerConfig {
  /** Address every listener binds; 127.0.0.1 keeps metaroute local to its Envoy. */
  readonly host: string;
  readonly ports: { readonly extProc: number; readonly xds: number; readonly admin: number };
  /** Where the embedded store keeps its log. */
  readonly dataDir: string;
  /** The embedded log (one process) or etcd (replicas). */
  readonly store: StoreConfig;
  /** A rules file watched for changes; without one, rules come from the store / admin API. */
  readonly rulesFile: string | undefined;
  readonly registry: { readonly ttlSeconds: number; readonly instances: readonly Instance[] };
  readonly extProc: {
    /** Envoy's `max_request_headers_kb` in bytes: 431 beyond; propagation's copies stay within it. */
    readonly maxHeaderBytes: number;
    /** Envoy's `max_headers_count`: propagation's copies stay within it. */
    readonly maxHeadersCount: number;
    /** Bytes of metadata a request may carry (400 beyond), as context/propagation.ts `metadataBytes` counts them: each whole-chain key once, whichever spellings carry it. */
    readonly maxMetadataBytes: number;
    /** Where verified claims come from; README.md, "Client headers at the edge, and identity". */
    readonly identity: {
      /** The `metadata_context` namespace and key jwt_authn's payload arrives under (its `payload_in_metadata`). */
      readonly metadataNamespace: string;
      readonly payloadKey: string;
      /** metaroute's own JWT check, for gateways without jwt_authn; its claims replace jwt_authn's. */
      readonly jwt: JwtConfig | undefined;
    };
    /**
     * Applied to ext_proc streams whose side is `edge` (no `x-metaroute-side`: a gateway). A list
     * given replaces the default, so `protectedPrefixes` without `x-metaroute-` no longer guards it.
     */
    readonly edge: EdgeGuardConfig;
    /**
     * A router failing on a sidecar's outbound call: `pass` answers it unrouted with its metadata
     * propagation (what a fail-open sidecar does, keeping the metadata); `fail` fails the stream,
     * so that the sidecar's own `failure_mode_allow` decides (a fail-closed sidecar needs it).
     */
    readonly outboundRouterFailure: 'pass' | 'fail';
    /** ext_proc streams run through a throwaway server before the listener binds, so Envoy's first requests meet optimized code (0: none). */
    readonly warmUpStreams: number;
    /** TLS (mutual with a client CA) on the ext_proc listener; plaintext when absent. */
    readonly tls: TlsConfig | undefined;
    /** Which mutual-TLS clients are served. */
    readonly clients: ExtProcClientsConfig;
  };
  readonly xds: {
    readonly debounceMs: number;
    readonly maxDebounceMs: number;
    /** Longest a change needing new subset selectors waits for every Envoy's ACK before ext_proc uses it. */
    readonly rolloutWaitMs: number;
    /** TLS (mutual with a client CA) on the xDS listener; plaintext when absent. */
    readonly tls: TlsConfig | undefined;
    /** Who may open xDS streams. */
    readonly clients: XdsClientsConfig;
  };
  readonly routers: readonly RouterConfig[];
  readonly admin: {
    /** TLS (mutual with a client CA) on the admin listener (API, metrics, console); plain HTTP when absent. */
    readonly tls: TlsConfig | undefined;
  };
  /** Bearer tokens for the registration and admin APIs; none configured = open (loopback only). */
  readonly auth: AuthConfig;
  /** On stop: seconds of NOT_SERVING, still answering, before the listeners close. */
  readonly drainSeconds: number;
  /** ext_proc server processes on the one ext_proc port (`auto` in the file: one per core); 1 = this process serves it. */
  readonly workers: number;
  /** Lowest level logged (JSON lines on stderr). */
  readonly logLevel: LogLevel;
}

export const DEFAULTS: ServerConfig = {
  host: '127.0.0.1',
  ports: { extProc: 18080, xds: 18000, admin: 18090 },
  dataDir: '.metaroute-data',
  store: DEFAULT_STORE,
  rulesFile: undefined,
  registry: { ttlSeconds: 15, instances: [] },
  extProc: {
    maxHeaderBytes: 61440,
    maxHeadersCount: 100,
    maxMetadataBytes: 8192,
    identity: { metadataNamespace: 'envoy.filters.http.jwt_authn', payloadKey: 'jwt_payload', jwt: undefined },
    edge: { protectedHeaders: [], protectedPrefixes: ['x-metaroute-'], clientHeaders: [], onSpoofed: 'reject' },
    outboundRouterFailure: 'pass',
    warmUpStreams: 3000,
    tls: undefined,
    clients: { certificateNames: [] },
  },
  xds: { debounceMs: DEFAULT_DEBOUNCE_MS, maxDebounceMs: DEFAULT_MAX_DEBOUNCE_MS, rolloutWaitMs: 5000, tls: undefined, clients: { tokens: [], certificateNames: [], required: 'auto' } },
  routers: [],
  admin: { tls: undefined },
  auth: { tokens: [], requireAdminAuth: 'auto' },
  drainSeconds: 0,
  workers: 1,
  logLevel: 'info',
};

/** Environment variables that override the file, and the field each sets. */
export const ENV_OVERRIDES: Readonly<Record<string, string>> = {
  METAROUTE_HOST: 'host',
  METAROUTE_EXTPROC_PORT: 'ports.extProc',
  METAROUTE_XDS_PORT: 'ports.xds',
  METAROUTE_ADMIN_PORT: 'ports.admin',
  METAROUTE_DATA_DIR: 'dataDir',
  METAROUTE_RULES_FILE: 'rulesFile',
  METAROUTE_DRAIN_SECONDS: 'drainSeconds',
  METAROUTE_WORKERS: 'workers',
  METAROUTE_LOG_LEVEL: 'logLevel',
};

/** Overridden fields whose environment text is read as a number (and so validated as one). */
const NUMERIC_FIELDS = new Set(['ports.extProc', 'ports.xds', 'ports.admin', 'drainSeconds', 'workers']);
const DECIMAL = /^-?\d+(\.\d+)?$/;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/** Reads, merges (defaults < file < environment) and validates the server configuration. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const raw: Record<string, unknown> = file ? readYamlObject(file) : {};
  const setBy = new Map<string, string>();
  for (const [variable, field] of Object.entries(ENV_OVERRIDES)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    // Text that is no plain decimal number stays text, so the error quotes what was set.
    setPath(raw, field, NUMERIC_FIELDS.has(field) && DECIMAL.test(value) ? Number(value) : value);
    setBy.set(field, variable);
  }
  const bad = loneSurrogatePath(raw);
  if (bad) throw new ConfigError([`${formatPath(bad)}: ${LONE_SURROGATE_MESSAGE}`]);
  try {
    return validate(raw, file ? path.dirname(path.resolve(file)) : process.cwd(), env);
  } catch (error) {
    if (!(error instanceof ConfigError) || setBy.size === 0) throw error;
    // A value from the environment is fixed there, not in the file: say which variable set it.
    // The field a problem starts with, and a dotted field it names later (`ports.xds: 1 is also ports.extProc`), not inside a quoted value.
    throw new ConfigError(error.problems.map((problem) => problem.replace(/"(?:[^"\\]|\\.)*"|\w+\.\w+|^\w+/g, (word) => (setBy.has(word) ? `${word} (set by ${setBy.get(word)})` : word))));
  }
}

function readYamlObject(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read ${file}: ${(error as Error).message}`]);
  }
  // A large generated config (many static instances) is far cheaper through JSON.parse than a YAML AST.
  if (file.endsWith('.json')) {
    try {
      return asMapping(JSON.parse(text) as unknown, file);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError([`${file}: ${(error as Error).message}`]);
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length) {
    throw new ConfigError(doc.errors.map((e) => `${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`));
  }
  return asMapping(doc.toJS() as unknown, file);
}

function asMapping(value: unknown, file: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError([`${file}: the configuration must be a mapping`]);
  return value as Record<string, unknown>;
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function validate(raw: Record<string, unknown>, baseDir: string, env: NodeJS.ProcessEnv): ServerConfig {
  const problems: string[] = [];
  const obj = (value: unknown, at: string, allowed: readonly string[]): Record<string, unknown> => {
    if (value === undefined) return {};
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${at}: must be a mapping`);
      return {};
    }
    for (const key of Object.keys(value)) if (!allowed.includes(key)) problems.push(`${at ? `${at}.` : ''}${key}: unknown field (expected one of ${allowed.join(', ')})`);
    return value as Record<string, unknown>;
  };
  const int = (value: unknown, at: string, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      problems.push(`${at}: must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
      return fallback;
    }
    return value;
  };
  const str = (value: unknown, at: string, fallback: string): string => {
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || value === '') {
      problems.push(`${at}: must be a non-empty string`);
      return fallback;
    }
    return value;
  };

  const top = obj(raw, '', ['host', 'ports', 'dataDir', 'store', 'rulesFile', 'registry', 'extProc', 'xds', 'admin', 'routers', 'auth', 'drainSeconds', 'logLevel', 'workers']);
  const ports = obj(top.ports, 'ports', ['extProc', 'xds', 'admin']);
  const port = (name: 'extProc' | 'xds' | 'admin') => {
    const value = int(ports[name], `ports.${name}`, DEFAULTS.ports[name], 0, 65535);
    if (value === 9901) problems.push(`ports.${name}: 9901 is Envoy's admin port; choose another`);
    return value;
  };
  const registry = obj(top.registry, 'registry', ['ttlSeconds', 'instances']);
  const ttlSeconds = int(registry.ttlSeconds, 'registry.ttlSeconds', DEFAULTS.registry.ttlSeconds, 1, 86400);
  const instances: Instance[] = [];
  if (registry.instances !== undefined && !Array.isArray(registry.instances)) problems.push('registry.instances: must be a list');
  const sameAddress = sameAddressCheck();
  (Array.isArray(registry.instances) ? registry.instances : []).forEach((entry, i) => {
    // Read without the limits registrations gained since (labels, a TTL under a second): a file that
    // started a server keeps starting it. A configured instance is persistent, so its TTL is never used.
    const parsed = parseInstance({ ephemeral: false, ...(entry as object) }, { ttlSeconds, maxLabels: Infinity, minTtlSeconds: 0 }, `registry.instances[${i}]`);
    if (!parsed.ok) return void problems.push(...parsed.errors);
    // It has no store record to expire: it stayed for good, and was "expired" every second.
    if (parsed.instance.ephemeral) return void problems.push(`registry.instances[${i}].ephemeral: a configured instance is persistent (it is in the file, not the store); register ephemeral instances through the admin API or the agent`);
    const taken = sameAddress(parsed.instance, `registry.instances[${i}]`);
    if (taken) problems.push(taken);
    instances.push(parsed.instance);
  });
  const extProc = obj(top.extProc, 'extProc', ['maxHeaderBytes', 'maxHeadersCount', 'maxMetadataBytes', 'identity', 'edge', 'outboundRouterFailure', 'warmUpStreams', 'tls', 'clients']);
  const outboundRouterFailure = extProc.outboundRouterFailure ?? DEFAULTS.extProc.outboundRouterFailure;
  if (outboundRouterFailure !== 'pass' && outboundRouterFailure !== 'fail') problems.push(`extProc.outboundRouterFailure: must be pass or fail, got ${JSON.stringify(outboundRouterFailure)}`);
  const extProcTls = parseTls(extProc.tls, 'extProc.tls', baseDir, obj, problems);
  const identity = obj(extProc.identity, 'extProc.identity', ['metadataNamespace', 'payloadKey', 'jwt']);
  const jwt = identity.jwt === undefined ? undefined : obj(identity.jwt, 'extProc.identity.jwt', ['header', 'issuer', 'audience', 'jwks', 'secretEnv']);
  if (jwt && (jwt.jwks === undefined) === (jwt.secretEnv === undefined)) problems.push('extProc.identity.jwt: set exactly one of jwks and secretEnv');
  if (jwt?.jwks !== undefined && !Array.isArray((jwt.jwks as { keys?: unknown } | null)?.keys)) problems.push('extProc.identity.jwt.jwks: must be a JWKS object with a keys list');
  const optionalStr = (value: unknown, at: string) => (value === undefined ? undefined : str(value, at, ''));
  const edge = obj(extProc.edge, 'extProc.edge', ['protectedHeaders', 'protectedPrefixes', 'clientHeaders', 'onSpoofed']);
  const lowerList = (value: unknown, at: string, fallback: readonly string[]): string[] => {
    if (value === undefined) return [...fallback];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
      problems.push(`${at}: must be a list of header names`);
      return [...fallback];
    }
    return value.map((v: string) => v.toLowerCase());
  };
  const onSpoofed = edge.onSpoofed ?? DEFAULTS.extProc.edge.onSpoofed;
  if (onSpoofed !== 'reject' && onSpoofed !== 'strip') problems.push(`extProc.edge.onSpoofed: must be reject or strip, got ${JSON.stringify(onSpoofed)}`);
  const xds = obj(top.xds, 'xds', ['debounceMs', 'maxDebounceMs', 'rolloutWaitMs', 'tls', 'clients']);
  const admin = obj(top.admin, 'admin', ['tls']);
  const routers: RouterConfig[] = [];
  if (top.routers !== undefined && !Array.isArray(top.routers)) problems.push('routers: must be a list');
  (Array.isArray(top.routers) ? top.routers : []).forEach((entry, i) => {
    const r = obj(entry, `routers[${i}]`, ['name', 'module', 'config']);
    if ((r.name === undefined) === (r.module === undefined)) {
      problems.push(`routers[${i}]: set exactly one of name (a built-in router) and module (a custom one)`);
      return;
    }
    const name = r.name === undefined ? undefined : str(r.name, `routers[${i}].name`, '');
    const module = r.module === undefined ? undefined : path.resolve(baseDir, str(r.module, `routers[${i}].module`, ''));
    routers.push({ name, module, config: r.config ?? {} });
  });
  const logLevel = top.logLevel ?? DEFAULTS.logLevel;
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) problems.push(`logLevel: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const rulesFile = top.rulesFile === undefined ? undefined : str(top.rulesFile, 'rulesFile', '');
  if (rulesFile) checkReadableFile(path.resolve(baseDir, rulesFile), 'rulesFile', problems);

  const chosenPorts = { extProc: port('extProc'), xds: port('xds'), admin: port('admin') };
  const portNames = Object.keys(chosenPorts) as Array<keyof typeof chosenPorts>;
  portNames.forEach((name, i) => {
    const earlier = portNames.slice(0, i).find((other) => chosenPorts[other] === chosenPorts[name]);
    // 0 lets the OS pick a free port for each.
    if (earlier && chosenPorts[name] !== 0) problems.push(`ports.${name}: ${chosenPorts[name]} is also ports.${earlier}; each listener needs its own port`);
  });
  const config: ServerConfig = {
    host: str(top.host, 'host', DEFAULTS.host),
    ports: chosenPorts,
    dataDir: path.resolve(baseDir, str(top.dataDir, 'dataDir', DEFAULTS.dataDir)),
    store: parseStoreConfig(top.store, baseDir, env, problems),
    rulesFile: rulesFile ? path.resolve(baseDir, rulesFile) : undefined,
    registry: { ttlSeconds, instances },
    extProc: {
      maxHeaderBytes: int(extProc.maxHeaderBytes, 'extProc.maxHeaderBytes', DEFAULTS.extProc.maxHeaderBytes, 1024, 8 * 1024 * 1024),
      maxHeadersCount: int(extProc.maxHeadersCount, 'extProc.maxHeadersCount', DEFAULTS.extProc.maxHeadersCount, 1, 10_000),
      maxMetadataBytes: int(extProc.maxMetadataBytes, 'extProc.maxMetadataBytes', DEFAULTS.extProc.maxMetadataBytes, 256, 1024 * 1024),
      identity: {
        metadataNamespace: str(identity.metadataNamespace, 'extProc.identity.metadataNamespace', DEFAULTS.extProc.identity.metadataNamespace),
        payloadKey: str(identity.payloadKey, 'extProc.identity.payloadKey', DEFAULTS.extProc.identity.payloadKey),
        jwt: jwt && {
          header: str(jwt.header, 'extProc.identity.jwt.header', 'authorization').toLowerCase(),
          issuer: optionalStr(jwt.issuer, 'extProc.identity.jwt.issuer'),
          audience: optionalStr(jwt.audience, 'extProc.identity.jwt.audience'),
          jwks: jwt.jwks as { keys: object[] } | undefined,
          secretEnv: optionalStr(jwt.secretEnv, 'extProc.identity.jwt.secretEnv'),
        },
      },
      edge: {
        protectedHeaders: lowerList(edge.protectedHeaders, 'extProc.edge.protectedHeaders', DEFAULTS.extProc.edge.protectedHeaders),
        protectedPrefixes: lowerList(edge.protectedPrefixes, 'extProc.edge.protectedPrefixes', DEFAULTS.extProc.edge.protectedPrefixes),
        clientHeaders: lowerList(edge.clientHeaders, 'extProc.edge.clientHeaders', DEFAULTS.extProc.edge.clientHeaders),
        onSpoofed: onSpoofed === 'strip' ? 'strip' : 'reject',
      },
      outboundRouterFailure: outboundRouterFailure === 'fail' ? 'fail' : 'pass',
      warmUpStreams: int(extProc.warmUpStreams, 'extProc.warmUpStreams', DEFAULTS.extProc.warmUpStreams, 0, 100_000),
      tls: extProcTls,
      clients: parseExtProcClients(extProc.clients, (extProc.tls as { clientCaFile?: unknown } | undefined)?.clientCaFile !== undefined, obj, problems),
    },
    xds: {
      debounceMs: int(xds.debounceMs, 'xds.debounceMs', DEFAULTS.xds.debounceMs, 0, 60000),
      maxDebounceMs: int(xds.maxDebounceMs, 'xds.maxDebounceMs', DEFAULTS.xds.maxDebounceMs, 0, 600000),
      rolloutWaitMs: int(xds.rolloutWaitMs, 'xds.rolloutWaitMs', DEFAULTS.xds.rolloutWaitMs, 0, 600000),
      tls: parseTls(xds.tls, 'xds.tls', baseDir, obj, problems),
      clients: parseXdsClients(xds.clients, env, obj, problems),
    },
    admin: { tls: parseTls(admin.tls, 'admin.tls', baseDir, obj, problems) },
    routers,
    auth: parseAuthConfig(top.auth, env, problems),
    drainSeconds: int(top.drainSeconds, 'drainSeconds', DEFAULTS.drainSeconds, 0, 3600),
    workers: top.workers === 'auto' ? os.availableParallelism() : int(top.workers, 'workers (or auto)', DEFAULTS.workers, 1, 256),
    logLevel: LOG_LEVELS.includes(logLevel as LogLevel) ? (logLevel as LogLevel) : DEFAULTS.logLevel,
  };
  if (isIP(config.host) === 0 && config.host !== 'localhost') {
    problems.push(`host: must be an IP address to bind (or localhost), got ${JSON.stringify(config.host)}`);
  } else {
    // Refused here, before anything binds, so `metaroute serve` exits with the reason.
    const authProblem = adminAuthProblem(config.host, config.auth);
    if (authProblem) problems.push(authProblem);
    const xdsProblem = xdsClientsProblem(config.host, isLoopback(config.host), config.xds.tls, config.xds.clients);
    if (xdsProblem) problems.push(xdsProblem);
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}
