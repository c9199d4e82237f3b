import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './envoy';
import { describeWith, type Requirement } from './requires';

/** Real etcd for the store tests: ETCD_BIN, else `etcd` on PATH (CI installs it: .ci/run). */
export const ETCD: Requirement = { what: 'etcd', path: process.env['ETCD_BIN'] || findOnPath('etcd'), install: 'apt-get install -y etcd-server (or set ETCD_BIN)' };

function findOnPath(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() || undefined : undefined;
}

export const OPENSSL: Requirement = { what: 'openssl', path: findOnPath('openssl'), install: 'apt-get install -y openssl' };

/** `describe` when etcd is here; otherwise a skip saying why (a failing test under CI=true). */
export function describeWithEtcd(name: string, body: () => void): void {
  describeWith(ETCD, name, body);
}

interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  process: ChildProcess | undefined;
}

/**
 * A 1- or 3-member etcd cluster on loopback. Short heartbeat and election timeouts so a
 * lost leader is replaced within about a second, as on a quiet LAN.
 */
export interface EtcdTls {
  /** PEM files: the CA, etcd's server certificate and key (SAN 127.0.0.1); clients must show a certificate the CA signed. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export class EtcdCluster {
  private constructor(private readonly members: Member[], private readonly root: string, private readonly tls: EtcdTls | undefined, private readonly flags: readonly string[]) {}

  /** `flags`: more of etcd's own, e.g. `--max-txn-ops`. */
  static async start(size = 1, tls?: EtcdTls, flags: readonly string[] = []): Promise<EtcdCluster> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-etcd-'));
    const members: Member[] = [];
    for (let i = 0; i < size; i++) {
      members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir: path.join(root, `m${i}`), process: undefined });
    }
    const cluster = new EtcdCluster(members, root, tls, flags);
    try {
      await Promise.all(members.map((_, i) => cluster.restart(i)));
    } catch (error) {
      await cluster.close(); // nobody else holds it: a member left running would keep jest from exiting
      throw error;
    }
    return cluster;
  }

  get endpoints(): string[] {
    return this.members.map((m) => `${this.tls ? 'https' : 'http'}://127.0.0.1:${m.clientPort}`);
  }

  endpoint(i: number): string {
    return this.endpoints[i]!;
  }

  /** Starts member i (again, on its data directory) and waits until it reports healthy; nothing if it runs. */
  async restart(i: number): Promise<void> {
    const m = this.members[i]!;
    if (m.process && m.process.exitCode === null && m.process.signalCode === null) return;
    const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    m.process = spawn(ETCD.path!, [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', this.endpoint(i),
      '--advertise-client-urls', this.endpoint(i),
      ...(this.tls ? ['--cert-file', this.tls.cert, '--key-file', this.tls.key, '--trusted-ca-file', this.tls.ca, '--client-cert-auth'] : []),
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', cluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', path.basename(this.root),
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--logger', 'zap',
      '--log-level', 'error',
      ...this.flags,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    m.process.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const deadline = Date.now() + 15_000;
    while (!(await this.healthy(i))) {
      if (m.process.exitCode !== null || Date.now() > deadline) throw new Error(`etcd member ${m.name} did not become healthy:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL: no goodbye to the cluster. */
  async kill(i: number): Promise<void> {
    const proc = this.members[i]!.process;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  }

  /** Copies member i's data directory (stop it first) aside: a snapshot `restoreData` puts back. */
  saveData(i: number): string {
    const m = this.members[i]!;
    const copy = `${m.dataDir}.saved-${Date.now()}`;
    fs.cpSync(m.dataDir, copy, { recursive: true });
    return copy;
  }

  /** Replaces member i's data directory (stop it first) with `saved`, or with nothing: `restart` then brings up an empty etcd. */
  replaceData(i: number, saved?: string): void {
    const m = this.members[i]!;
    fs.rmSync(m.dataDir, { recursive: true, force: true });
    if (saved) fs.cpSync(saved, m.dataDir, { recursive: true });
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)));
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  private async healthy(i: number): Promise<boolean> {
    if (this.tls) return this.healthyOverTls(i);
    try {
      const answer = await fetch(`${this.endpoint(i)}/health`, { signal: AbortSignal.timeout(1000) });
      return ((await answer.json()) as { health?: string }).health === 'true';
    } catch {
      return false;
    }
  }

  private healthyOverTls(i: number): Promise<boolean> {
    const tls = this.tls!;
    return new Promise((resolve) => {
      const request = https.get(`${this.endpoint(i)}/health`, { ca: fs.readFileSync(tls.ca), cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key), timeout: 1000 }, (answer) => {
        let body = '';
        answer.on('data', (chunk: Buffer) => (body += chunk.toString()));
        answer.on('end', () => resolve(body.includes('"health":"true"')));
      });
      request.on('error', () => resolve(false));
      request.on('timeout', () => request.destroy());
    });
  }
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in `dir`. */
export function makeCertificates(dir: string): { ca: string; server: { cert: string; key: string }; client: { cert: string; key: string } } {
  const run = (args: string[]) => {
    const result = spawnSync(OPENSSL.path!, args, { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=metaroute-test-ca']);
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  for (const name of ['server', 'client']) {
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', 'san.ext']);
  }
  const file = (name: string) => path.join(dir, name);
  return { ca: file('ca.pem'), server: { cert: file('server.pem'), key: file('server-key.pem') }, client: { cert: file('client.pem'), key: file('client-key.pem') } };
}

/** A loopback TCP proxy a test can cut (all connections dropped, new ones refused) and restore. */
export class CuttableProxy {
  private readonly sockets = new Set<net.Socket>();
  private cutOff = false;
  private hung = false;

  private constructor(private readonly server: net.Server, readonly port: number) {}

  static async start(target: string): Promise<CuttableProxy> {
    const { hostname, port } = new URL(target);
    let proxy: CuttableProxy | undefined;
    const server = net.createServer((client) => {
      if (proxy!.cutOff) return void client.destroy();
      if (proxy!.hung) return void proxy!.hold(client);
      const upstream = net.connect(Number(port), hostname);
      for (const s of [client, upstream]) {
        proxy!.sockets.add(s);
        s.on('close', () => proxy!.sockets.delete(s));
        s.on('error', () => (client.destroy(), upstream.destroy()));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new CuttableProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
  }

  /** Like a stopped etcd: connections stay open, nothing is answered (until `close`). */
  hang(): void {
    this.hung = true;
    for (const s of this.sockets) {
      s.unpipe();
      s.pause();
    }
  }

  restore(): void {
    this.cutOff = false;
  }

  private hold(client: net.Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
