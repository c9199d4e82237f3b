import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { bearerToken, TokenDigests } from '../model/bearer';
import { HttpError } from './http';
import { addressList, CIDR, outOfScope, type RegistrationTarget, type TokenScope } from './token-scope';

export type { RegistrationTarget } from './token-scope';

/** One bearer token and what it may do. */
export interface AuthToken extends TokenScope {
  readonly token: string;
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
    const t = mapping(entry, at, ['token', 'tokenEnv', 'services', 'labels', 'optionalLabels', 'addresses', 'maxInstances', 'admin']);
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
    const labelMap = (field: 'labels' | 'optionalLabels'): Record<string, string[]> => {
      const out: Record<string, string[]> = {};
      for (const [key, values] of Object.entries(mapping(t[field], `${at}.${field}`))) {
        if (key === '*' && field === 'labels') problems.push(`${at}.labels.*: a required label needs a name; use optionalLabels for "any other key"`);
        out[key] = strings(values, `${at}.${field}.${key}`);
        if (Array.isArray(values) && values.length === 0) problems.push(`${at}.${field}.${key}: list at least one allowed value (or "*")`);
      }
      return out;
    };
    const labels = labelMap('labels');
    const optionalLabels = labelMap('optionalLabels');
    for (const key of Object.keys(optionalLabels)) if (Object.hasOwn(labels, key)) problems.push(`${at}.optionalLabels.${key}: already required under labels`);
    const addresses = t.addresses === undefined ? [] : strings(t.addresses, `${at}.addresses`);
    for (const cidr of addresses) if (!validCidr(cidr)) problems.push(`${at}.addresses: ${JSON.stringify(cidr)} is not a CIDR (10.1.0.0/16, fd00::/8)`);
    const maxInstances = t.maxInstances;
    if (maxInstances !== undefined && (typeof maxInstances !== 'number' || !Number.isInteger(maxInstances) || maxInstances < 1)) problems.push(`${at}.maxInstances: must be an integer >= 1`);
    const admin = t.admin ?? false;
    if (typeof admin !== 'boolean') problems.push(`${at}.admin: must be true or false`);
    if (services.length === 0 && admin !== true) problems.push(`${at}: grants nothing; list services it may register or set admin: true`);
    tokens.push({ token, services, labels, optionalLabels, addresses, maxInstances: typeof maxInstances === 'number' ? maxInstances : undefined, admin: admin === true });
  });
  return { tokens, requireAdminAuth: typeof requireAdminAuth === 'boolean' ? requireAdminAuth : 'auto' };
}

function validCidr(cidr: string): boolean {
  const m = CIDR.exec(cidr);
  const family = m ? isIP(m[1]!) : 0;
  return family !== 0 && Number(m![2]) <= (family === 4 ? 32 : 128);
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

/**
 * Decides who may call what on the admin HTTP API. Registration calls need a token once
 * any token is configured; admin reads need an admin token when `adminAuthRequired`, and
 * admin writes also once any token is configured (unless `requireAdminAuth: false`).
 */
export class AdminAuth {
  private readonly grants: TokenDigests<AuthToken>;
  private readonly adminRequired: boolean;
  private readonly writeRequired: boolean;
  private readonly addresses = new Map<AuthToken, BlockList>();
  /** Every configured token, secrets included (for in-process use; never serialize it). */
  readonly tokens: readonly AuthToken[];

  constructor(config: AuthConfig, host: string) {
    // loadConfig refuses this config already; App.start callers that build a config by hand are stopped here.
    const problem = adminAuthProblem(host, config);
    if (problem) throw new Error(problem);
    this.tokens = config.tokens;
    this.grants = new TokenDigests(config.tokens, (t) => t.token);
    this.adminRequired = adminAuthRequired(host, config);
    this.writeRequired = this.adminRequired || (config.tokens.length > 0 && config.requireAdminAuth !== false);
    for (const t of config.tokens) if (t.addresses.length) this.addresses.set(t, addressList(t.addresses));
  }

  /** Throws 401/403 unless the request may use an admin route; `write`: it changes rules or router configs. */
  requireAdmin(req: IncomingMessage, res: ServerResponse, write: boolean): void {
    if (!(write ? this.writeRequired : this.adminRequired)) return;
    if (!this.identify(req, res).admin) throw new HttpError(403, 'token may not use the admin API (it needs admin: true)');
  }

  /** The token of a registration-API call (401 without a known one); undefined while no token is configured. */
  registrant(req: IncomingMessage, res: ServerResponse): AuthToken | undefined {
    return this.grants.size === 0 ? undefined : this.identify(req, res);
  }

  /** Throws 403 naming the reason when `grant` does not cover `target`; `verb` is what the caller tried. */
  authorize(grant: AuthToken | undefined, verb: string, target: RegistrationTarget): void {
    if (!grant) return;
    const reason = this.refusal(grant, target);
    if (reason) throw new HttpError(403, `token may not ${verb} ${reason}`);
  }

  /** Why `grant` does not cover `target` (e.g. `user=B`), or undefined. */
  refusal(grant: AuthToken, target: RegistrationTarget): string | undefined {
    return outOfScope(grant, this.allowedAddresses(grant), target);
  }

  /** The hosts `grant`'s instances may have, from its `addresses`; undefined: no CIDR listed. */
  allowedAddresses(grant: AuthToken): BlockList | undefined {
    return this.addresses.get(grant);
  }

  /**
   * Whether `adding` new instances exceed the token's `maxInstances`, given how many within its
   * scope are `registered` (those on their way to the registry included) and how many within it
   * the same call removes: the first new one that does not fit (its position among them) and
   * why, or undefined when all fit.
   */
  quotaOverflow(grant: AuthToken, registered: number, adding: number, removing: number): { first: number; message: string } | undefined {
    if (grant.maxInstances === undefined || adding === 0) return undefined;
    if (registered + adding - removing <= grant.maxInstances) return undefined;
    const first = Math.max(grant.maxInstances - registered + removing, 0);
    return { first, message: `token may register at most ${grant.maxInstances} instances; ${registered} are registered within its scope, and this would add ${adding}${removing ? ` and remove ${removing}` : ''}` };
  }

  private identify(req: IncomingMessage, res: ServerResponse): AuthToken {
    const token = bearerToken(req.headers.authorization);
    if (!token) throw this.unauthorized(res, 'missing Authorization: Bearer <token>');
    const found = this.grants.find(token);
    if (!found) throw this.unauthorized(res, 'unknown token');
    return found;
  }

  private unauthorized(res: ServerResponse, message: string): HttpError {
    res.setHeader('www-authenticate', 'Bearer realm="metaroute"');
    return new HttpError(401, message);
  }
}
