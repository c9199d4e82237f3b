import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startApp, until } from '../support/app';
import { makeTestPki, OPENSSL, rotatingFiles, type TestPki } from '../support/certificates';
import { describeWith } from '../support/requires';
import { sharedCli } from '../support/transpile';

/**
 * TLS on the admin listener (API, /metrics, console) with certificates made by openssl at test
 * time: real HTTPS clients over loopback, and the CLI trusting a private CA through
 * NODE_EXTRA_CA_CERTS, as the README says.
 */

/** GET over HTTPS on a fresh connection; resolves with the status, or rejects with the TLS error. */
function get(url: string, options: { ca?: string; cert?: string; key?: string } = {}): Promise<number> {
  const read = (file: string | undefined) => (file ? fs.readFileSync(file) : undefined);
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: read(options.ca), cert: read(options.cert), key: read(options.key), agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

describeWith(OPENSSL, 'admin API over TLS', () => {
  let pki: TestPki;
  beforeAll(() => (pki = makeTestPki()));

  test('answers HTTPS clients trusting its CA; refuses plain HTTP and clients that do not trust it; the CLI reaches it with NODE_EXTRA_CA_CERTS', async () => {
    const env = await startApp({ admin: { tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: undefined, reloadSeconds: 60 } } });
    const base = `https://127.0.0.1:${env.app.ports.admin}`;
    try {
      expect(await get(`${base}/healthz`, { ca: pki.ca })).toBe(200);
      expect(await get(`${base}/v1/instances`, { ca: pki.ca })).toBe(200);
      await expect(get(`${base}/healthz`)).rejects.toThrow(/self-signed|unable to (get|verify)/); // the system's CAs do not know it
      await expect(fetch(`http://127.0.0.1:${env.app.ports.admin}/healthz`)).rejects.toThrow();

      const explain = await promisify(execFile)(process.execPath, [sharedCli(), 'explain', '--admin', base, '--authority', 'shop.default'], {
        env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: pki.ca },
        timeout: 20_000,
      }).catch((e: { code: number; stdout: string; stderr: string }) => e);
      // An unknown service is exit 1 with the server's answer: the call went through TLS.
      expect(explain).toMatchObject({ code: 1, stderr: expect.stringContaining('no registered service matches "shop.default"') });
      expect(explain.stderr).not.toMatch(/certificate|ECONNREFUSED|fetch failed/i);
    } finally {
      await env.app.stop();
    }
  });

  test('an expired certificate stops the start, naming the files and the date', async () => {
    await expect(startApp({ admin: { tls: { certFile: pki.expired.cert, keyFile: pki.expired.key, clientCaFile: undefined, reloadSeconds: 1 } } })).rejects.toThrow(
      `admin.tls: ${pki.expired.cert}, ${pki.expired.key}: the certificate expired (not after Jan  2 00:00:00 2020 GMT)`,
    );
  });

  test('an encrypted private key stops the start with what to do, in either PEM form', async () => {
    for (const form of [[], ['-traditional']]) {
      const keyFile = path.join(pki.dir, `encrypted${form.join('')}.key`);
      execFileSync('openssl', ['pkey', '-in', pki.serverKey, '-aes256', '-passout', 'pass:secret', ...form, '-out', keyFile], { stdio: 'ignore' });
      await expect(startApp({ admin: { tls: { certFile: pki.serverCert, keyFile, clientCaFile: undefined, reloadSeconds: 1 } } })).rejects.toThrow(
        `admin.tls: ${pki.serverCert}, ${keyFile}: the private key is encrypted; metaroute reads an unencrypted key (decrypt it: openssl pkey -in <key> -out <new key>`,
      );
    }
  });

  test('mutual TLS: a client certificate the client CA signed is required; renewed files are served without a restart; a CA file cut short is not taken', async () => {
    const { certFile, keyFile, install } = rotatingFiles();
    install(pki.serverCert, pki.serverKey);
    const caFile = path.join(path.dirname(certFile), 'ca.crt');
    fs.copyFileSync(pki.ca, caFile);
    const env = await startApp({ admin: { tls: { certFile, keyFile, clientCaFile: caFile, reloadSeconds: 1 } } });
    const base = `https://127.0.0.1:${env.app.ports.admin}`;
    const client = pki.client('operator');
    const events = (name: string) => env.logs.map((l) => JSON.parse(l) as { event?: string; msg: string }).filter((r) => r.event === name);
    try {
      expect(await get(`${base}/healthz`, { ca: pki.ca, ...client })).toBe(200);
      await expect(get(`${base}/healthz`, { ca: pki.ca })).rejects.toThrow(); // no client certificate
      await expect(get(`${base}/healthz`, { ca: pki.ca, ...pki.stranger })).rejects.toThrow(); // another CA's

      // A client CA copied half way (Node's TLS would take it and then refuse every client).
      const ca = fs.readFileSync(pki.ca, 'utf8');
      fs.writeFileSync(caFile, ca.slice(0, ca.length >> 1));
      await until(() => events('tls.reload.failed').some((r) => r.msg.includes('client CA')), 'the cut CA file to be refused', 10_000);
      expect(await get(`${base}/healthz`, { ca: pki.ca, ...client })).toBe(200);
      fs.copyFileSync(pki.ca, caFile);

      // An expired certificate (a renewal that went wrong) is not taken: every client would refuse it.
      install(pki.expired.cert, pki.expired.key);
      await until(() => events('tls.reload.failed').some((r) => r.msg.includes('the certificate expired (not after Jan  2 00:00:00 2020 GMT)')), 'the expired certificate to be refused', 10_000);
      expect(await get(`${base}/healthz`, { ca: pki.ca, ...client })).toBe(200);

      install(pki.otherServer.cert, pki.otherServer.key);
      await until(() => events('tls.reloaded').length > 0, 'the admin listener to take the new files', 10_000);
      expect(await get(`${base}/healthz`, { ca: pki.otherCa, ...client })).toBe(200);
      await expect(get(`${base}/healthz`, { ca: pki.ca, ...client })).rejects.toThrow();
    } finally {
      await env.app.stop();
    }
  });
});
