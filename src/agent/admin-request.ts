import * as http from 'node:http';
import * as https from 'node:https';

/** What an https:// admin API may ask of its callers: a client certificate (admin.tls.clientCaFile), a private CA. */
export interface AdminTls {
  /** PEM contents; `cert` and `key` come together. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** Replaces the system's CAs (and NODE_EXTRA_CA_CERTS) for the server's certificate. */
  readonly ca?: Buffer;
  /** Where `cert` was read from, for the message when the server refuses it. */
  readonly certFile?: string;
}

export interface AdminRequestOptions {
  readonly body?: unknown;
  readonly token?: string;
  /** For the whole call: connection, TLS handshake, request and answer. */
  readonly timeoutMs: number;
  readonly tls?: AdminTls;
}

export interface AdminReply {
  readonly status: number;
  readonly text: string;
}

/** The admin API gave no answer. `reason` says why; `retryable` is false when trying again cannot help (a bad URL, a refused TLS handshake). */
export class AdminCallError extends Error {
  constructor(readonly url: string, readonly reason: string, readonly retryable: boolean) {
    super(`cannot reach ${url}: ${reason}`);
    this.name = 'AdminCallError';
  }
}

/**
 * One call to the admin API at `base` (http:// or https://), what the CLI and the agents share.
 * node:http(s) rather than fetch: fetch cannot present a client certificate, and its errors
 * (`fetch failed`, UND_ERR_SOCKET) hide the TLS alert that says why a handshake failed.
 */
export function adminRequest(base: string, method: string, urlPath: string, options: AdminRequestOptions): Promise<AdminReply> {
  const target = `${base.replace(/\/+$/, '')}${urlPath}`;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.reject(new AdminCallError(target, 'not a URL', false));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new AdminCallError(target, `${url.protocol} is not http: or https:`, false));
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string | number> = {};
  if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const { cert, key, ca } = options.tls ?? {};

  return new Promise((resolve, reject) => {
    // A fresh connection per call (calls are seconds apart): a kept-alive one the server has just closed would fail as ECONNRESET.
    const request = url.protocol === 'https:' ? https.request(url, { method, headers, agent: false, cert, key, ca }) : http.request(url, { method, headers, agent: false });
    let answered = false;
    const fail = (error: Error) => reject(error instanceof AdminCallError ? error : new AdminCallError(target, ...whyFailed(error as NodeJS.ErrnoException, url, options.tls, answered)));
    const timer = setTimeout(() => {
      const error = new AdminCallError(target, `no answer within ${options.timeoutMs} ms`, true);
      reject(error);
      request.destroy(error);
    }, options.timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', fail);
    request.on('response', (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', fail);
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.end(body);
  });
}

const CLIENT_CERT_HINT = 'pass --client-cert and --client-key (or METAROUTE_ADMIN_CLIENT_CERT and METAROUTE_ADMIN_CLIENT_KEY)';

/** The reason for a failed call, naming the client certificate or the CA when the TLS handshake says they are at fault. */
function whyFailed(error: NodeJS.ErrnoException, url: URL, tls: AdminTls | undefined, answered: boolean): [reason: string, retryable: boolean] {
  const code = error.code ?? error.message;
  // TLS 1.3 names the missing certificate (alert 116); TLS 1.2 says only handshake_failure (alert 40).
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' || (code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' && !tls?.cert)) {
    return [`the server requires a client certificate (admin.tls.clientCaFile): ${CLIENT_CERT_HINT}`, false];
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return [`${error.message} (${code})`, false];
  // OpenSSL's verification codes (SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED, ...), unlike Node's own, have no ERR_ prefix.
  if (!code.startsWith('ERR_') && /CERT|SELF_SIGNED|UNABLE_TO/.test(code)) {
    const hint = /SELF_SIGNED|UNABLE_TO/.test(code) ? ': pass --ca (or METAROUTE_ADMIN_CA, NODE_EXTRA_CA_CERTS) with the CA that signed it' : '';
    return [`the server's certificate is not trusted (${error.message}, ${code})${hint}`, false];
  }
  if (code === 'ECONNRESET' && !answered) {
    // Node's TLS server refuses a certificate it cannot verify by closing the connection after the handshake, without an alert.
    if (url.protocol === 'https:' && tls?.cert) {
      return [`the server closed the connection without an answer (${code}); if it requires a client certificate, it did not accept ${tls.certFile ?? 'the one sent'} (signed by another CA than its admin.tls.clientCaFile, expired, or not for client authentication)`, true];
    }
    // And closes a connection that does not start with a TLS handshake.
    if (url.protocol === 'http:') return [`the server closed the connection without an answer (${code}); if its admin port is on HTTPS (admin.tls), the URL is https://`, true];
  }
  return [code, true];
}
