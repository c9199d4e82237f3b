import * as path from 'node:path';
import type { EtcdStoreConfig } from '../store/etcd';

/** `embedded` keeps a log in `dataDir` (one process); `etcd` shares the state between replicas. */
export type StoreConfig = { readonly kind: 'embedded' } | EtcdStoreConfig;

export const DEFAULT_STORE: StoreConfig = { kind: 'embedded' };
const DEFAULT_PREFIX = '/metaroute/';
/** A stopped replica's instances are taken over this long after it stopped renewing: a few heartbeats' worth. */
const DEFAULT_LEASE_SECONDS = 10;
/** Comma-separated etcd endpoints; setting it selects the etcd store. */
export const ETCD_ENDPOINTS_ENV = 'METAROUTE_ETCD_ENDPOINTS';

/** Validates the `store` section; each problem names its field. */
export function parseStoreConfig(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv, problems: string[]): StoreConfig {
  const section = mapping(raw, 'store', ['kind', 'endpoints', 'prefix', 'tls', 'auth', 'leaseSeconds'], problems);
  const fromEnv = env[ETCD_ENDPOINTS_ENV];
  const kind = fromEnv ? 'etcd' : section.kind ?? 'embedded';
  if (kind === 'embedded') {
    for (const field of ['endpoints', 'prefix', 'tls', 'auth', 'leaseSeconds']) if (section[field] !== undefined) problems.push(`store.${field}: only for kind: etcd`);
    return DEFAULT_STORE;
  }
  if (kind !== 'etcd') {
    problems.push(`store.kind: must be embedded or etcd, got ${JSON.stringify(kind)}`);
    return DEFAULT_STORE;
  }
  const endpoints = fromEnv ? fromEnv.split(',').map((e) => e.trim()) : section.endpoints;
  const at = fromEnv ? ETCD_ENDPOINTS_ENV : 'store.endpoints';
  if (!Array.isArray(endpoints) || endpoints.length === 0 || !endpoints.every((e) => typeof e === 'string' && /^https?:\/\/[^/\s]+$/.test(e))) {
    problems.push(`${at}: must be a non-empty list of http://host:port or https://host:port, got ${JSON.stringify(endpoints)}`);
  }
  const prefix = section.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string' || prefix === '') problems.push('store.prefix: must be a non-empty string');
  const tls = section.tls === undefined ? undefined : mapping(section.tls, 'store.tls', ['ca', 'cert', 'key'], problems);
  const file = (value: unknown, field: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value === 'string' && value !== '') return path.resolve(baseDir, value);
    problems.push(`store.tls.${field}: must be a file path`);
    return undefined;
  };
  if (tls && tls.ca === undefined) problems.push('store.tls.ca: required with tls (the CA that signed etcd\'s certificate)');
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) problems.push('store.tls: set both cert and key (mutual TLS) or neither');
  const auth = section.auth === undefined ? undefined : mapping(section.auth, 'store.auth', ['username', 'password'], problems);
  if (auth && (typeof auth.username !== 'string' || auth.username === '')) problems.push('store.auth.username: must be a non-empty string');
  if (auth && typeof auth.password !== 'string') problems.push('store.auth.password: must be a string');
  const leaseSeconds = section.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  if (!Number.isInteger(leaseSeconds) || (leaseSeconds as number) < 2 || (leaseSeconds as number) > 300) problems.push(`store.leaseSeconds: a whole number of seconds from 2 to 300, got ${JSON.stringify(leaseSeconds)}`);
  const list = Array.isArray(endpoints) ? (endpoints as string[]) : [];
  if (tls && list.some((e) => e.startsWith('http://'))) problems.push(`${at}: use https:// endpoints with tls`);
  return {
    kind: 'etcd',
    endpoints: list,
    prefix: String(prefix),
    tls: tls && { ca: file(tls.ca, 'ca') ?? '', cert: file(tls.cert, 'cert'), key: file(tls.key, 'key') },
    auth: auth && { username: String(auth.username), password: String(auth.password) },
    leaseSeconds: Number(leaseSeconds),
  };
}

function mapping(value: unknown, at: string, allowed: readonly string[], problems: string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${at}: must be a mapping`);
    return {};
  }
  for (const key of Object.keys(value)) if (!allowed.includes(key)) problems.push(`${at}.${key}: unknown field (expected one of ${allowed.join(', ')})`);
  return value as Record<string, unknown>;
}
