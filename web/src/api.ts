/** The admin API, from the page the admin server served (same origin), with the bearer token when one was given. */

import type { Labels } from '../../src/model/instance';

const TOKEN_KEY = 'metaroute.token';

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An answer other than 2xx: the server's `{error, details}`. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly details: readonly string[]) {
    super(message);
  }
}

/** Told when the server wants a token (401) or refuses this one (403): the app shows the prompt. */
let onAuthNeeded: (status: number) => void = () => undefined;
export function whenAuthNeeded(listener: (status: number) => void): void {
  onAuthNeeded = listener;
}

export async function api<T>(method: string, path: string, body?: string, contentType = 'application/json', extra: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { ...extra };
  const bearer = token();
  if (bearer) headers['authorization'] = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = contentType;
  const response = await fetch(path, { method, headers, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    if (response.status === 401 || response.status === 403) onAuthNeeded(response.status);
    const problem = json as { error?: string; details?: string[] } | undefined;
    throw new ApiError(response.status, problem?.error ?? `${method} ${path}: HTTP ${response.status}`, problem?.details ?? []);
  }
  return json as T;
}

// The server's own types, imported type-only (nothing of src/ reaches the bundle); each comes
// from a file that needs no Node.js, which this type-check (no Node.js types) holds them to.
export type { Labels } from '../../src/model/instance';
export type { Decision } from '../../src/model/decision';
export type { ExplainRequest, Explanation } from '../../src/admin/explain-types';
export type { RuleError } from '../../src/rules/errors';

// Restated by hand: on the server these are built in modules that use Node.js (registry, timers,
// xDS streams) or only described by the serializer schemas (src/admin/schemas.ts).
export interface ServiceSummary { namespace: string; service: string; cluster: string; instances: number; healthy: number }

export interface Overview {
  version: string;
  phase: string;
  store: { kind: string; where: string };
  rules: { version: number; origin: string; rules: number; metadataRoutes: number; lastReload?: { ok: boolean; at: string } };
  proxies: number;
  services: ServiceSummary[];
}

export interface Instance {
  id: string;
  host: string;
  port: number;
  weight: number;
  metadata: Labels;
  locality: { region?: string; zone?: string; campus?: string };
  healthy: boolean;
  ephemeral: boolean;
  ttlSeconds: number;
  lastHeartbeat: string | null;
}

export interface ServiceDetail {
  summary: ServiceSummary;
  subsets: Array<{ keys: string[]; labels: Labels; instances: number; healthy: number }>;
  /** Subsets beyond the 1,000 largest, not listed. */
  subsetsOmitted: number;
  page: { offset: number; limit: number; matching: number; instances: Instance[] };
}

export interface TypeState {
  type_url: string;
  wildcard: boolean;
  subscriptions: string[];
  sent?: Record<string, string>;
  sent_count?: number;
  last_ack: { version: string; nonce: string; at: string; convergedMs: number } | null;
  nack: { version: string; nonce: string; at: string; error: { code: number; message: string } } | null;
}

export interface Proxy {
  id: number;
  protocol: string;
  service: string;
  peer: string;
  node: { id?: string; cluster?: string; user_agent_name?: string } | null;
  opened_at: string;
  types: Record<string, TypeState>;
}

export interface Split {
  until: number;
  seconds: number;
  series: Array<{ destination: string; outcome: string; counts: number[] }>;
}

export interface RouterEntry { name: string; order: number; config: unknown; etag: string }

/**
 * `k=v` pairs, one per line (or comma-separated), into an object; blank lines are skipped.
 * Headers (`name: value`) only one per line: a header value holds commas (`accept: text/html, application/json`).
 */
export function parsePairs(text: string, separator: '=' | ':'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(separator === ':' ? '\n' : /[\n,]/)) {
    const at = part.indexOf(separator);
    if (part.trim() === '') continue;
    if (at <= 0) throw new Error(`"${part.trim()}" is not name${separator}value`);
    out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return out;
}

export function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.length ? keys.map((k) => `${k}=${labels[k] === '' ? '(none)' : labels[k]}`).join(', ') : '(all)';
}
