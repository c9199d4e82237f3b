import * as jose from 'jose';
import { headerValue, type HeaderList } from '../model/headers';

/** Headers a client at the edge may not send: their values must come from metaroute or a verified source. */
export interface EdgeGuardConfig {
  readonly protectedHeaders: readonly string[];
  readonly protectedPrefixes: readonly string[];
  /** Headers a client may send although a protected prefix covers them (a canary header clients may set). */
  readonly clientHeaders: readonly string[];
  /** reject: 403 the request; strip: remove the headers and route as if they were absent. */
  readonly onSpoofed: 'reject' | 'strip';
}

export function spoofedHeaders(headers: HeaderList, guard: EdgeGuardConfig): string[] {
  const found: string[] = [];
  for (const name of headers.names) {
    if (guard.clientHeaders.includes(name)) continue;
    if (guard.protectedHeaders.includes(name) || guard.protectedPrefixes.some((p) => name.startsWith(p))) found.push(name);
  }
  return found;
}

/** A copy of the header list without the named headers (strip mode routes on what is left). */
export function withoutHeaders(headers: HeaderList, names: readonly string[]): HeaderList {
  const out: HeaderList = { names: [], values: [], bytes: headers.bytes, oversized: headers.oversized };
  for (let i = 0; i < headers.names.length; i++) {
    if (names.includes(headers.names[i]!)) continue;
    out.names.push(headers.names[i]!);
    out.values.push(headers.values[i]!);
  }
  return out;
}

export interface JwtConfig {
  /** Header carrying `Bearer <token>`. */
  readonly header: string;
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  /** Inline JWKS (asymmetric keys) ... */
  readonly jwks: { keys: object[] } | undefined;
  /** ... or an HMAC secret read from this environment variable. */
  readonly secretEnv: string | undefined;
}

export type JwtResult = { ok: true; claims: Record<string, unknown> } | { ok: false; reason: string };

/** Verifies the request's own JWT when Envoy has not (no jwt_authn in front). */
export class JwtVerifier {
  private readonly check: (token: string) => Promise<jose.JWTVerifyResult>;

  constructor(private readonly config: JwtConfig) {
    const options = { issuer: config.issuer, audience: config.audience };
    if (config.jwks) {
      const keys = jose.createLocalJWKSet(config.jwks as jose.JSONWebKeySet);
      this.check = (token) => jose.jwtVerify(token, keys, options);
    } else {
      const secret = config.secretEnv ? process.env[config.secretEnv] : undefined;
      if (!secret) throw new Error('extProc.identity.jwt: set jwks, or secretEnv naming a non-empty environment variable');
      const key = new TextEncoder().encode(secret);
      this.check = (token) => jose.jwtVerify(token, key, options);
    }
  }

  /**
   * undefined, at once, when the request carries no token (anonymous: it is routed without
   * waiting); a bad token is `ok: false`.
   */
  verify(headers: HeaderList): Promise<JwtResult> | undefined {
    const value = headerValue(headers, this.config.header);
    if (value === undefined) return undefined;
    const token = value.startsWith('Bearer ') ? value.slice(7).trim() : '';
    if (!token) return Promise.resolve({ ok: false, reason: `${this.config.header} is not a Bearer token` });
    return this.checkToken(token);
  }

  private async checkToken(token: string): Promise<JwtResult> {
    try {
      const { payload } = await this.check(token);
      return { ok: true, claims: payload as Record<string, unknown> };
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
  }
}
