import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { adminAnswer, type AdminAnswer } from '../agent/admin-answer';
import { AdminCallError, adminRequest, type AdminTls } from '../agent/admin-request';
import { CommandError, text, UsageError, type OptionSpec, type OptionValues } from './command';

/** The admin API of a server on this machine: the same METAROUTE_HOST / METAROUTE_ADMIN_PORT `serve` reads. */
export function defaultAdminUrl(env: NodeJS.ProcessEnv = process.env): string {
  return `http://${env.METAROUTE_HOST || '127.0.0.1'}:${env.METAROUTE_ADMIN_PORT || '18090'}`;
}

/** `--admin` as every command that calls the admin API describes it. */
export const ADMIN_HELP = `admin API address (default ${defaultAdminUrl({})}, or METAROUTE_HOST / METAROUTE_ADMIN_PORT)`;

/** What every command that calls the admin API takes for an https:// one (admin.tls). */
export const ADMIN_TLS_OPTIONS = {
  'client-cert': { type: 'string', value: 'FILE', help: 'client certificate (PEM) when the admin API requires one, admin.tls.clientCaFile (else METAROUTE_ADMIN_CLIENT_CERT)' },
  'client-key': { type: 'string', value: 'FILE', help: "the client certificate's private key (PEM; else METAROUTE_ADMIN_CLIENT_KEY)" },
  ca: { type: 'string', value: 'FILE', help: "CA (PEM) to check the admin API's certificate by, instead of the system's and NODE_EXTRA_CA_CERTS (else METAROUTE_ADMIN_CA)" },
} as const satisfies Record<string, OptionSpec>;

/**
 * The files ADMIN_TLS_OPTIONS (or their environment variables) name, read and checked before
 * any call: a missing or unreadable file, or a certificate and key that do not belong together,
 * is a usage error naming it. Undefined when none is given.
 */
export function adminTls(values: OptionValues, env: NodeJS.ProcessEnv = process.env): AdminTls | undefined {
  const given = (option: keyof typeof ADMIN_TLS_OPTIONS, variable: string) => {
    const flag = text(values, option);
    const file = flag ?? (env[variable] || undefined);
    return file === undefined ? undefined : { file, named: `${flag === undefined ? variable : `--${option}`} ${file}` };
  };
  const cert = given('client-cert', 'METAROUTE_ADMIN_CLIENT_CERT');
  const key = given('client-key', 'METAROUTE_ADMIN_CLIENT_KEY');
  const ca = given('ca', 'METAROUTE_ADMIN_CA');
  if (cert && !key) throw new UsageError(`${cert.named} needs --client-key (or METAROUTE_ADMIN_CLIENT_KEY)`);
  if (key && !cert) throw new UsageError(`${key.named} needs --client-cert (or METAROUTE_ADMIN_CLIENT_CERT)`);
  if (!cert && !ca) return undefined;

  const read = (source: { file: string; named: string } | undefined) => {
    if (!source) return undefined;
    try {
      return fs.readFileSync(source.file);
    } catch (error) {
      throw new UsageError(`cannot read ${source.named}: ${(error as Error).message}`);
    }
  };
  const check = (what: string, problem: string, parse: () => unknown) => {
    try {
      parse();
    } catch (error) {
      throw new UsageError(`${what}: ${problem} (${(error as Error).message})`);
    }
  };
  const pem = { cert: read(cert), key: read(key), ca: read(ca) };
  if (cert) {
    check(cert.named, 'not a PEM certificate', () => tls.createSecureContext({ cert: pem.cert }));
    check(key!.named, 'not an unencrypted PEM private key', () => tls.createSecureContext({ key: pem.key }));
    check(key!.named, `not the key of ${cert.named}`, () => tls.createSecureContext(pem));
  }
  // Node takes a CA file without a certificate in it silently, and would then trust nothing.
  if (ca) check(ca.named, 'not a PEM certificate', () => new crypto.X509Certificate(pem.ca!));
  return { ...pem, certFile: cert?.file };
}

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
