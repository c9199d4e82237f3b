import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Requirement } from './requires';

/** PEM files made at test time with the openssl command line (Debian's `openssl` package); node:crypto cannot sign X.509. */
export interface TestPki {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** A client certificate `ca` signed: CN `name`, and the SAN `san` (default `DNS:<name>`). */
  client(name: string, san?: string): { cert: string; key: string };
  /** A client certificate from another CA, named like a trusted one. */
  readonly stranger: { cert: string; key: string };
  /** The other CA, and a server certificate (localhost, 127.0.0.1) it signed: what a rotation moves to. */
  readonly otherCa: string;
  readonly otherServer: { cert: string; key: string };
  /** A server certificate (localhost) whose validity ended in 2020, self-signed. */
  readonly expired: { cert: string; key: string };
}

/** False when openssl is missing (the caller skips, or fails under CI). */
export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const OPENSSL: Requirement = { what: 'openssl', path: opensslAvailable() ? 'openssl' : undefined, install: 'apt-get install openssl' };

/**
 * What scripts/dev-certs.sh makes in a fresh directory (the deploy forms' Secrets and mounts):
 * `<dir>/metaroute/` and `<dir>/<client>/` each holding ca.crt, tls.crt and tls.key.
 */
export function devCertificates(clients: readonly string[] = ['envoy'], dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-dev-certs-'))): string {
  execFileSync('bash', [path.join(__dirname, '..', '..', 'scripts', 'dev-certs.sh'), dir, ...clients], { stdio: ['ignore', 'ignore', 'pipe'] });
  return dir;
}

export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-pki-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(name));
  const ca = (name: string) => {
    key(`${name}.key`);
    openssl('req', '-x509', '-new', '-key', file(`${name}.key`), '-subj', `/CN=${name}`, '-days', '2', '-out', file(`${name}.crt`));
  };
  const leaf = (name: string, caName: string, san: string) => {
    const base = `${caName}-${name}`;
    key(`${base}.key`);
    openssl('req', '-new', '-key', file(`${base}.key`), '-subj', `/CN=${name}`, '-out', file(`${base}.csr`));
    fs.writeFileSync(file(`${base}.ext`), `subjectAltName=${san}\n`);
    openssl('x509', '-req', '-in', file(`${base}.csr`), '-CA', file(`${caName}.crt`), '-CAkey', file(`${caName}.key`), '-CAcreateserial', '-days', '2', '-extfile', file(`${base}.ext`), '-out', file(`${base}.crt`));
    return { cert: file(`${base}.crt`), key: file(`${base}.key`) };
  };
  /** `openssl ca` is the command line that sets a past validity period (OpenSSL 3.0's `x509 -days` counts from now). */
  const expired = () => {
    fs.writeFileSync(file('expired.cnf'), '[ca]\ndefault_ca=d\n[d]\ndatabase=expired.index\nnew_certs_dir=.\nserial=expired.serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n');
    fs.writeFileSync(file('expired.index'), '');
    fs.writeFileSync(file('expired.serial'), '01\n');
    key('expired.key');
    openssl('req', '-new', '-key', file('expired.key'), '-subj', '/CN=localhost', '-out', file('expired.csr'));
    openssl('ca', '-batch', '-config', file('expired.cnf'), '-selfsign', '-keyfile', file('expired.key'), '-in', file('expired.csr'), '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-out', file('expired.crt'));
    return { cert: file('expired.crt'), key: file('expired.key') };
  };
  ca('test-ca');
  ca('other-ca');
  const server = leaf('metaroute', 'test-ca', 'DNS:localhost,IP:127.0.0.1');
  return {
    dir,
    ca: file('test-ca.crt'),
    serverCert: server.cert,
    serverKey: server.key,
    client: (name, san = `DNS:${name}`) => leaf(name, 'test-ca', san),
    stranger: leaf('envoy-sidecar', 'other-ca', 'DNS:envoy-sidecar'),
    otherCa: file('other-ca.crt'),
    otherServer: leaf('metaroute', 'other-ca', 'DNS:localhost,IP:127.0.0.1'),
    expired: expired(),
  };
}

/**
 * A certificate and key pair at fixed paths in a fresh directory, replaced the way a Secret
 * update replaces them (each file whole, by rename), for the reload tests.
 */
export function rotatingFiles(): { certFile: string; keyFile: string; install(cert: string, key: string): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-rotate-'));
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  return {
    certFile,
    keyFile,
    install(cert, key) {
      fs.copyFileSync(key, `${keyFile}.new`);
      fs.copyFileSync(cert, `${certFile}.new`);
      fs.renameSync(`${keyFile}.new`, keyFile);
      fs.renameSync(`${certFile}.new`, certFile);
    },
  };
}

/**
 * A directory laid out the way the kubelet mounts a Secret: each file is a symlink through
 * `..data` to a timestamped directory. `project` writes a new timestamped directory, points a
 * `..data_tmp` symlink at it and renames that over `..data` (the one atomic step), then removes
 * the old directory, as the kubelet does on a Secret update.
 */
export function secretVolume(): { dir: string; project(files: Record<string, string>): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-secret-'));
  let current: string | undefined;
  let version = 0;
  return {
    dir,
    project(files) {
      const next = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${++version}`;
      fs.mkdirSync(path.join(dir, next));
      for (const [name, source] of Object.entries(files)) fs.copyFileSync(source, path.join(dir, next, name));
      fs.symlinkSync(next, path.join(dir, '..data_tmp'));
      fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      for (const name of Object.keys(files)) if (!fs.existsSync(path.join(dir, name))) fs.symlinkSync(path.join('..data', name), path.join(dir, name));
      if (current) fs.rmSync(path.join(dir, current), { recursive: true });
      current = next;
    },
  };
}
