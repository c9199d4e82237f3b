import * as path from 'node:path';
import { MIN_TOKEN_LENGTH } from '../admin/auth';
import type { TlsConfig } from '../tls/certificate-files';
import { checkReadableFile } from './readable-file';

/** TLS for a listener: PEM files. With `clientCaFile`, mutual TLS: clients must present a certificate it signed. */
export type { TlsConfig };

const DEFAULT_TLS_RELOAD_SECONDS = 60;

/** Who may open xDS streams (any other method of the xDS port but gRPC health). */
export interface XdsClientsConfig {
  /** Bearer tokens a client may present in gRPC metadata (`authorization: Bearer <token>`). */
  readonly tokens: readonly string[];
  /** With mutual TLS: the client certificate's CN or a DNS / URI SAN must be one of these; empty: any certificate the CA signed. */
  readonly certificateNames: readonly string[];
  /** `auto`: an identity (a token or mutual TLS) is required when the server binds beyond loopback. */
  readonly required: 'auto' | boolean;
}

/** Which ext_proc clients are served (with mutual TLS). */
export interface ExtProcClientsConfig {
  /** With mutual TLS: the client certificate's CN or a DNS / URI SAN must be one of these; empty: any certificate the CA signed. */
  readonly certificateNames: readonly string[];
}

type Mapping = (value: unknown, at: string, allowed: readonly string[]) => Record<string, unknown>;

/** `extProc.tls` / `xds.tls`; files resolve against the config file's directory and must be readable. */
export function parseTls(value: unknown, at: string, baseDir: string, obj: Mapping, problems: string[]): TlsConfig | undefined {
  if (value === undefined) return undefined;
  const t = obj(value, at, ['certFile', 'keyFile', 'clientCaFile', 'reloadSeconds']);
  const file = (field: string, required: boolean): string | undefined => {
    const v = t[field];
    if (v === undefined) {
      if (required) problems.push(`${at}.${field}: required (a PEM file)`);
      return undefined;
    }
    if (typeof v !== 'string' || v === '') {
      problems.push(`${at}.${field}: must be a file path`);
      return undefined;
    }
    const resolved = path.resolve(baseDir, v);
    checkReadableFile(resolved, `${at}.${field}`, problems);
    return resolved;
  };
  const certFile = file('certFile', true);
  const keyFile = file('keyFile', true);
  const clientCaFile = file('clientCaFile', false);
  const reloadSeconds = t.reloadSeconds ?? DEFAULT_TLS_RELOAD_SECONDS;
  if (typeof reloadSeconds !== 'number' || !Number.isInteger(reloadSeconds) || reloadSeconds < 1 || reloadSeconds > 86400) problems.push(`${at}.reloadSeconds: whole seconds, 1 to 86400`);
  return certFile && keyFile ? { certFile, keyFile, clientCaFile, reloadSeconds: reloadSeconds as number } : undefined;
}

export function parseXdsClients(value: unknown, env: NodeJS.ProcessEnv, obj: Mapping, problems: string[]): XdsClientsConfig {
  const c = obj(value, 'xds.clients', ['tokens', 'certificateNames', 'required']);
  const tokens: string[] = [];
  if (c.tokens !== undefined && !Array.isArray(c.tokens)) problems.push('xds.clients.tokens: must be a list');
  (Array.isArray(c.tokens) ? c.tokens : []).forEach((entry, i) => {
    const at = `xds.clients.tokens[${i}]`;
    const t = obj(entry, at, ['token', 'tokenEnv']);
    if ((t.token === undefined) === (t.tokenEnv === undefined)) problems.push(`${at}: set exactly one of token, tokenEnv`);
    else if (t.tokenEnv !== undefined && (typeof t.tokenEnv !== 'string' || !env[t.tokenEnv])) problems.push(`${at}.tokenEnv: names no set environment variable`);
    else {
      const token = t.tokenEnv !== undefined ? env[t.tokenEnv as string] : t.token;
      if (typeof token === 'string' && token.length >= MIN_TOKEN_LENGTH && !/\s/.test(token)) tokens.push(token);
      else problems.push(`${at}: the token must be a string of at least ${MIN_TOKEN_LENGTH} characters without whitespace`);
    }
  });
  const required = c.required ?? 'auto';
  if (required !== 'auto' && typeof required !== 'boolean') problems.push(`xds.clients.required: must be auto, true or false, got ${JSON.stringify(required)}`);
  return {
    tokens,
    certificateNames: parseCertificateNames(c.certificateNames, 'xds.clients.certificateNames', problems),
    required: typeof required === 'boolean' ? required : 'auto',
  };
}

/** `mutual`: `extProc.tls.clientCaFile` is set (valid or not: a bad one is reported where it is). */
export function parseExtProcClients(value: unknown, mutual: boolean, obj: Mapping, problems: string[]): ExtProcClientsConfig {
  const c = obj(value, 'extProc.clients', ['certificateNames']);
  const certificateNames = parseCertificateNames(c.certificateNames, 'extProc.clients.certificateNames', problems);
  if (certificateNames.length > 0 && !mutual) problems.push('extProc.clients.certificateNames: needs mutual TLS (extProc.tls.clientCaFile)');
  return { certificateNames };
}

/** A `clients.certificateNames` list: non-empty strings, each a CN, DNS name or URI (a SPIFFE id) as the certificate carries it. */
function parseCertificateNames(value: unknown, at: string, problems: string[]): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.push(`${at}: must be a list of names, got ${JSON.stringify(value)}`);
    return [];
  }
  value.forEach((n, i) => {
    if (typeof n !== 'string' || n.trim() === '' || n !== n.trim()) problems.push(`${at}[${i}]: must be a name (a CN, DNS name or URI without surrounding spaces), got ${JSON.stringify(n)}`);
  });
  return value.filter((n): n is string => typeof n === 'string');
}

/** Why xDS would serve strangers under this configuration, or undefined. */
export function xdsClientsProblem(host: string, loopback: boolean, tls: TlsConfig | undefined, clients: XdsClientsConfig): string | undefined {
  const required = clients.required === 'auto' ? !loopback : clients.required;
  if (clients.certificateNames.length > 0 && !tls?.clientCaFile) return 'xds.clients.certificateNames: needs mutual TLS (xds.tls.clientCaFile)';
  if (!required || clients.tokens.length > 0 || tls?.clientCaFile) return undefined;
  const why = clients.required === true ? 'xds.clients.required is true' : `the server binds ${host}, beyond loopback`;
  return `xds.clients: ${why}, so xDS clients need an identity: list xds.clients.tokens, or set xds.tls.clientCaFile (mutual TLS), or set xds.clients.required: false`;
}
