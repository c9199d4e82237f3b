import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Labels } from '../model/instance';
import { HttpError } from './http';

/** One bearer token and what it may do. */
export interface AuthToken {
  readonly token: string;
  /** Services it may register, heartbeat and deregister: `*`, `ns/*`, `ns/svc`, or `svc` (that name in any namespace). */
  readonly services: readonly string[];
  /** Per label key, the values its instances may carry; a listed key is mandatory. */
  readonly labels: Readonly<Record<string, readonly string[]>>;
  /** May use the admin API (rules, routers, instance listing, explain, config dump). */
  readonly admin: boolean;
}

export interface AuthConfig {
  readonly tokens: readonly AuthToken[];
  /** `auto`: required when the server binds beyond loopback. */
  readonly requireAdminAuth: 'auto' | boolean;
}

/** Short tokens can be guessed; 16 characters is the floor, a random 32+ is the advice. */
export const MIN_TOKEN_LENGTH = 16;
const SERVICE_PATTERN = /^(\*|[A-Za-z0-9][A-Za-z0-9_.-]*(\/(\*|[A-Za-z0-9][A-Za-z0-9_.-]*))?)$/;

/** Validates the `auth` block; `tokenEnv` entries read their secret from `env`. Problems go to `problems`. */
export function parseAuthConfig(value: unknown, env: NodeJS.ProcessEnv, problems: string[]): AuthConfig {
  const mapping = (v: unknown, at: string, allowed?: readonly string[]): Record<string, unknown> => {
    if (v === undefined) return {};
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      problems.push(`${at}: must be a mapping`);
      return {};
    }
    if (allowed) for (const key of Object.keys(v)) if (!allowed.includes(key)) problems.push(`${at}.${key}: unknown field (expected one of ${allowed.join(', ')})`);
    return v as Record<string, unknown>;
  };
  const strings = (v: unknown, at: string): string[] => {
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s !== '')) {
      problems.push(`${at}: must be a list of non-empty strings`);
      return [];
    }
    return v as string[];
  };

  const top = mapping(value, 'auth', ['tokens', 'requireAdminAuth']);
  const requireAdminAuth = top.requireAdminAuth ?? 'auto';
  if (requireAdminAuth !== 'auto' && typeof requireAdminAuth !== 'boolean') {
    problems.push(`auth.requireAdminAuth: must be auto, true or false, got ${JSON.stringify(requireAdminAuth)}`);
  }
  if (top.tokens !== undefined && !Array.isArray(top.tokens)) problems.push('auth.tokens: must be a list');
  const tokens: AuthToken[] = [];
  const seen = new Set<string>();
  (Array.isArray(top.tokens) ? top.tokens : []).forEach((entry, i) => {
    const at = `auth.tokens[${i}]`;
    const t = mapping(entry, at, ['token', 'tokenEnv', 'services', 'labels', 'admin']);
    let token = '';
    if ((t.token === undefined) === (t.tokenEnv === undefined)) problems.push(`${at}: set exactly one of token, tokenEnv`);
    else if (t.tokenEnv !== undefined) {
      if (typeof t.tokenEnv !== 'string' || t.tokenEnv === '') problems.push(`${at}.tokenEnv: must be an environment variable name`);
      else if (!env[t.tokenEnv]) problems.push(`${at}.tokenEnv: environment variable ${t.tokenEnv} is not set`);
      else token = env[t.tokenEnv]!;
    } else if (typeof t.token !== 'string') problems.push(`${at}.token: must be a string`);
    else token = t.token;
    if (token && token.length < MIN_TOKEN_LENGTH) problems.push(`${at}: the token must be at least ${MIN_TOKEN_LENGTH} characters`);
    if (/\s/.test(token)) problems.push(`${at}: the token must not contain whitespace (it travels as "Bearer <token>")`);
    if (token && seen.has(token)) problems.push(`${at}: the same token appears twice; give each scope its own token`);
    if (token) seen.add(token);

    const services = t.services === undefined ? [] : strings(t.services, `${at}.services`);
    for (const s of services) if (!SERVICE_PATTERN.test(s)) problems.push(`${at}.services: ${JSON.stringify(s)} is not *, ns/*, ns/svc or svc`);
    const labels: Record<string, string[]> = {};
    for (const [key, values] of Object.entries(mapping(t.labels, `${at}.labels`))) {
      labels[key] = strings(values, `${at}.labels.${key}`);
      if (Array.isArray(values) && values.length === 0) problems.push(`${at}.labels.${key}: list at least one allowed value`);
    }
    const admin = t.admin ?? false;
    if (typeof admin !== 'boolean') problems.push(`${at}.admin: must be true or false`);
    if (services.length === 0 && admin !== true) problems.push(`${at}: grants nothing; list services it may register or set admin: true`);
    tokens.push({ token, services, labels, admin: admin === true });
  });
  return { tokens, requireAdminAuth: typeof requireAdminAuth === 'boolean' ? requireAdminAuth : 'auto' };
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

export function adminAuthRequired(host: string, auth: AuthConfig): boolean {
  return auth.requireAdminAuth === 'auto' ? !isLoopback(host) : auth.requireAdminAuth;
}

/** Why the server must not start with this auth config on this host, or undefined. */
export function adminAuthProblem(host: string, auth: AuthConfig): string | undefined {
  if (!adminAuthRequired(host, auth) || auth.tokens.some((t) => t.admin)) return undefined;
  const why = auth.requireAdminAuth === true ? 'auth.requireAdminAuth is true' : `the server binds ${host}, beyond loopback`;
  return `auth.tokens: ${why}, so the admin API needs a token with admin: true, and none is configured (add one, or bind host 127.0.0.1)`;
}

/** The config dump shows token scopes, never the secrets. */
export function redactSecrets(dump: Record<string, unknown>): Record<string, unknown> {
  const config = dump.config as { auth?: AuthConfig; store?: { auth?: object } } | undefined;
  if (!config?.auth) return dump;
  const auth = { ...config.auth, tokens: config.auth.tokens.map((t) => ({ ...t, token: '<redacted>' })) };
  const store = config.store?.auth ? { ...config.store, auth: { ...config.store.auth, password: '<redacted>' } } : config.store;
  return { ...dump, config: { ...config, auth, store } };
}

/** What a registration-API call touches: the instance, or only its service when it is not registered. */
export interface RegistrationTarget {
  readonly namespace: string;
  readonly service: string;
  readonly metadata?: Labels;
}

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * Decides who may call what on the admin HTTP API. Registration calls need a token once
 * any token is configured; admin calls need an admin token when `adminAuthRequired`.
 */
export class AdminAuth {
  /** Tokens are compared as SHA-256 digests: equal length, so timingSafeEqual applies and the length leaks nothing. */
  private readonly grants: ReadonlyArray<{ readonly digest: Buffer; readonly grant: AuthToken }>;
  private readonly adminRequired: boolean;

  constructor(config: AuthConfig, host: string) {
    // loadConfig refuses this config already; App.start callers that build a config by hand are stopped here.
    const problem = adminAuthProblem(host, config);
    if (problem) throw new Error(problem);
    this.grants = config.tokens.map((grant) => ({ digest: digest(grant.token), grant }));
    this.adminRequired = adminAuthRequired(host, config);
  }

  /** Throws 401/403 unless the request may use an admin route. */
  requireAdmin(req: IncomingMessage, res: ServerResponse): void {
    if (!this.adminRequired) return;
    if (!this.identify(req, res).admin) throw new HttpError(403, 'token may not use the admin API (it needs admin: true)');
  }

  /** The token of a registration-API call (401 without a known one); undefined while no token is configured. */
  registrant(req: IncomingMessage, res: ServerResponse): AuthToken | undefined {
    return this.grants.length === 0 ? undefined : this.identify(req, res);
  }

  /** Throws 403 naming the reason when `grant` does not cover `target`; `verb` is what the caller tried. */
  authorize(grant: AuthToken | undefined, verb: string, target: RegistrationTarget): void {
    if (!grant) return;
    if (!grant.services.some((s) => serviceMatches(s, target.namespace, target.service))) {
      throw new HttpError(403, `token may not ${verb} service ${target.namespace}/${target.service}`);
    }
    if (!target.metadata) return;
    for (const [key, allowed] of Object.entries(grant.labels)) {
      const value = target.metadata[key];
      if (value === undefined) throw new HttpError(403, `token may not ${verb} an instance without label ${key}`);
      if (!allowed.includes(value)) throw new HttpError(403, `token may not ${verb} ${key}=${value}`);
    }
  }

  private identify(req: IncomingMessage, res: ServerResponse): AuthToken {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw this.unauthorized(res, 'missing Authorization: Bearer <token>');
    const presented = digest(match[1]!);
    let found: AuthToken | undefined;
    // No early exit: the time taken does not tell which entry matched.
    for (const g of this.grants) if (timingSafeEqual(g.digest, presented)) found = g.grant;
    if (!found) throw this.unauthorized(res, 'unknown token');
    return found;
  }

  private unauthorized(res: ServerResponse, message: string): HttpError {
    res.setHeader('www-authenticate', 'Bearer realm="metaroute"');
    return new HttpError(401, message);
  }
}

function serviceMatches(pattern: string, namespace: string, service: string): boolean {
  if (pattern === '*') return true;
  const slash = pattern.indexOf('/');
  if (slash < 0) return pattern === service;
  const ns = pattern.slice(0, slash);
  const svc = pattern.slice(slash + 1);
  return ns === namespace && (svc === '*' || svc === service);
}
