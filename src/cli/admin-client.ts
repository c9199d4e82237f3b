import { adminAnswer, type AdminAnswer } from '../agent/admin-answer';
import { AdminCallError, adminRequest, type AdminTls } from '../agent/admin-request';
import { CommandError } from './command';

/** The admin API of a server on this machine: the same METAROUTE_HOST / METAROUTE_ADMIN_PORT `serve` reads. */
export function defaultAdminUrl(env: NodeJS.ProcessEnv = process.env): string {
  return `http://${env.METAROUTE_HOST || '127.0.0.1'}:${env.METAROUTE_ADMIN_PORT || '18090'}`;
}

/** `--admin` as every command that calls the admin API describes it. */
export const ADMIN_HELP = `admin API address (default ${defaultAdminUrl({})}, or METAROUTE_HOST / METAROUTE_ADMIN_PORT)`;

/** One admin API call from the command line; an unreachable server is a CommandError naming the URL (and the certificate at fault). */
export async function callAdmin(admin: string, method: string, urlPath: string, options: { body?: unknown; token?: string; tls?: AdminTls } = {}): Promise<AdminAnswer> {
  try {
    const reply = await adminRequest(admin, method, urlPath, { ...options, timeoutMs: 10_000 });
    return adminAnswer(reply.status, reply.text);
  } catch (error) {
    if (error instanceof AdminCallError) throw new CommandError(error.message);
    throw error;
  }
}
