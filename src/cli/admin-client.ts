import { adminAnswer, type AdminAnswer } from '../agent/admin-answer';
import { CommandError } from './command';

/** The admin API of a server on this machine: the same METAROUTE_HOST / METAROUTE_ADMIN_PORT `serve` reads. */
export function defaultAdminUrl(env: NodeJS.ProcessEnv = process.env): string {
  return `http://${env.METAROUTE_HOST || '127.0.0.1'}:${env.METAROUTE_ADMIN_PORT || '18090'}`;
}

/** `--admin` as every command that calls the admin API describes it. */
export const ADMIN_HELP = `admin API address (default ${defaultAdminUrl({})}, or METAROUTE_HOST / METAROUTE_ADMIN_PORT)`;

/** One admin API call from the command line; an unreachable server is a CommandError naming the URL. */
export async function callAdmin(admin: string, method: string, urlPath: string, options: { body?: unknown; token?: string } = {}): Promise<AdminAnswer> {
  const url = `${admin.replace(/\/+$/, '')}${urlPath}`;
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), signal: AbortSignal.timeout(10_000) });
    text = await response.text();
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    throw new CommandError(`cannot reach ${url}: ${e.cause?.code ?? e.cause?.message ?? e.message}`);
  }
  return adminAnswer(response.status, text);
}
