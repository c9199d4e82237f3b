import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from '../../src/app/app';
import { DEFAULTS, type ServerConfig } from '../../src/config/config';
import { captureLogs } from './logs';

/**
 * A real metaroute on loopback with ephemeral ports and a fresh data directory. Without an
 * `extProc` override it skips the ext_proc warm-up (up to a second of each start;
 * test/extproc/warm-up.test.ts covers it, and tests giving `extProc` get the default).
 */
export async function startApp(overrides: Partial<ServerConfig> = {}): Promise<{ app: App; admin: string; extProc: string; dataDir: string; logs: string[] }> {
  const dataDir = overrides.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-test-'));
  const { logger, lines: logs } = captureLogs();
  const app = await App.start({ ...DEFAULTS, extProc: { ...DEFAULTS.extProc, warmUpStreams: 0 }, ports: { extProc: 0, xds: 0, admin: 0 }, ...overrides, dataDir }, logger);
  return { app, admin: `http://127.0.0.1:${app.ports.admin}`, extProc: `127.0.0.1:${app.ports.extProc}`, dataDir, logs };
}

/** Sends `text` as a JSON body as it is (escapes like \ud800 reach the server's parser), and reads the JSON answer. */
export async function rawJson(base: string, method: string, urlPath: string, text: string): Promise<{ status: number; json: { error: string; details: string[] } }> {
  const response = await fetch(`${base}${urlPath}`, { method, headers: { 'content-type': 'application/json' }, body: text });
  return { status: response.status, json: JSON.parse(await response.text()) as { error: string; details: string[] } };
}

export async function api(base: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
  const response = await fetch(`${base}${urlPath}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'application/yaml' : 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

/** Waits (bounded) until `check` holds; the registry/rules swap happens one event-loop turn after a write. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
