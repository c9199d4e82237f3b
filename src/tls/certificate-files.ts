import * as fs from 'node:fs';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { experimental } from '@grpc/grpc-js';
import type { Logger } from '../log/logger';

/** A TLS listener's files (paths resolved), as the configuration gives them. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile: string | undefined;
  /** How often the files are read again (a renewed certificate is then served without a restart). */
  readonly reloadSeconds: number;
}

type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaListener = experimental.CaCertificateUpdateListener;

interface Pem {
  readonly certificate: Buffer;
  readonly privateKey: Buffer;
  readonly ca: Buffer | undefined;
}

/**
 * A TLS listener's PEM files (certificate chain, key, client CA), read at start and read again
 * every `reloadSeconds`, so a renewed certificate (cert-manager, a rotated Secret) is served
 * to new connections without a restart. A new set is taken only when the key matches the
 * certificate and every file parses; otherwise the one in use stays, and the refusal is
 * logged once per set of contents. Polling, not inotify: a Kubernetes Secret volume swaps a
 * symlinked directory, which a watch on the files does not see.
 */
export class CertificateFiles implements experimental.CertificateProvider {
  private current: Pem;
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  /** node:https servers kept to the files: each re-applies the current set. */
  private readonly servers = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private refused: string | undefined;

  /** Throws, naming the files, when they cannot be read or do not form a usable certificate. */
  constructor(
    private readonly tls: TlsConfig,
    /** The listener, for the log: `extProc`, `xds` or `admin`. */
    private readonly listener: string,
    private readonly log: Logger,
  ) {
    const pem = { certificate: fs.readFileSync(tls.certFile), privateKey: fs.readFileSync(tls.keyFile), ca: tls.clientCaFile ? fs.readFileSync(tls.clientCaFile) : undefined };
    const problem = unusable(pem);
    if (problem) throw new Error(`${listener}.tls: ${tls.certFile}, ${tls.keyFile}${tls.clientCaFile ? `, ${tls.clientCaFile}` : ''}: ${problem}`);
    this.current = pem;
  }

  // Listeners hear the current files on the next tick: grpc-js adds its own watcher of the
  // credentials only after adding these listeners, and would miss a synchronous answer.
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    const { certificate, privateKey } = this.current;
    process.nextTick(listener, { certificate, privateKey });
    this.watch();
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.unwatch();
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    process.nextTick(listener, this.current.ca ? { caCertificate: this.current.ca } : null);
    this.watch();
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.unwatch();
  }

  /**
   * Keeps a node:https (or node:tls) server's secure context to the files, from the next tick
   * on. Created with `requestCert` and `rejectUnauthorized` set as `mutual` says.
   */
  serve(server: TlsServer): void {
    const apply = (): void => server.setSecureContext(this.contextOptions());
    this.servers.add(apply);
    process.nextTick(apply);
    this.watch();
    server.once('close', () => {
      this.servers.delete(apply);
      this.unwatch();
    });
  }

  /** A client certificate signed by `clientCaFile` is required at the handshake. */
  get mutual(): boolean {
    return this.tls.clientCaFile !== undefined;
  }

  private contextOptions(): SecureContextOptions {
    const { certificate, privateKey, ca } = this.current;
    return { cert: certificate, key: privateKey, ...(ca && { ca }) };
  }

  private watch(): void {
    this.timer ??= setInterval(() => void this.reload(), this.tls.reloadSeconds * 1000).unref();
  }

  private unwatch(): void {
    if (this.identityListeners.size > 0 || this.caListeners.size > 0 || this.servers.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async reload(): Promise<void> {
    const { certFile, keyFile, clientCaFile } = this.tls;
    let pem: Pem;
    try {
      const [certificate, privateKey, ca] = await Promise.all([fs.promises.readFile(certFile), fs.promises.readFile(keyFile), clientCaFile ? fs.promises.readFile(clientCaFile) : undefined]);
      pem = { certificate, privateKey, ca };
    } catch (error) {
      this.refuse(`cannot read them: ${(error as Error).message}`, (error as Error).message);
      return;
    }
    if (same(pem, this.current)) return;
    const problem = unusable(pem);
    if (problem) {
      this.refuse(problem, `${pem.certificate.toString('base64')}${pem.privateKey.toString('base64')}${pem.ca?.toString('base64') ?? ''}`);
      return;
    }
    this.current = pem;
    this.refused = undefined;
    for (const listener of this.identityListeners) listener({ certificate: pem.certificate, privateKey: pem.privateKey });
    for (const listener of this.caListeners) listener(pem.ca ? { caCertificate: pem.ca } : null);
    for (const apply of this.servers) apply();
    this.log.info({ event: 'tls.reloaded', listener: this.listener, certFile, validTo: new X509Certificate(pem.certificate).validTo }, `${this.listener}: new TLS certificate files taken for new connections`);
  }

  /** Logs once per distinct failure, not every interval. */
  private refuse(problem: string, contents: string): void {
    if (this.refused === contents) return;
    this.refused = contents;
    this.log.warn({ event: 'tls.reload.failed', listener: this.listener, certFile: this.tls.certFile }, `${this.listener}: changed TLS files not taken, still serving the previous certificate: ${problem}`);
  }
}

function same(a: Pem, b: Pem): boolean {
  return a.certificate.equals(b.certificate) && a.privateKey.equals(b.privateKey) && (a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca));
}

/**
 * Why these files cannot serve (a key that does not match, a file that is not PEM, a client CA
 * cut short, a certificate outside its validity period), or undefined. Node's TLS takes an
 * empty or truncated CA without complaint and would then refuse every client, and serves an
 * expired certificate that every client then refuses, so both are checked here.
 */
function unusable(pem: Pem): string | undefined {
  // OpenSSL's own words for it are "bad decrypt".
  if (ENCRYPTED_KEY.test(pem.privateKey.toString('latin1'))) return 'the private key is encrypted; metaroute reads an unencrypted key (decrypt it: openssl pkey -in <key> -out <new key>, readable by metaroute\'s user only)';
  let certificate: X509Certificate;
  try {
    createSecureContext({ cert: pem.certificate, key: pem.privateKey, ...(pem.ca && { ca: pem.ca }) });
    certificate = new X509Certificate(pem.certificate);
  } catch (error) {
    return (error as Error).message;
  }
  const now = Date.now();
  if (now > Date.parse(certificate.validTo)) return `the certificate expired (not after ${certificate.validTo})`;
  if (now < Date.parse(certificate.validFrom)) return `the certificate is not valid yet (not before ${certificate.validFrom})`;
  return pem.ca && caProblem(pem.ca.toString('latin1'));
}

/** PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`) and the traditional form's header (`Proc-Type: 4,ENCRYPTED`). */
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type:[ \t]*4,[ \t]*ENCRYPTED/m;
const PEM_BEGIN = /-----BEGIN CERTIFICATE-----/g;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function caProblem(text: string): string | undefined {
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) return 'the client CA file holds no certificate';
  if (blocks.length !== (text.match(PEM_BEGIN) ?? []).length) return 'the client CA file ends inside a certificate';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return `certificate ${i + 1} of the client CA file: ${(error as Error).message}`;
    }
  }
  return undefined;
}
