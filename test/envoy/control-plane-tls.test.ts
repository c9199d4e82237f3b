import * as fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { parse } from 'yaml';
import { api } from '../support/app';
import { devCertificates, OPENSSL, secretVolume } from '../support/certificates';
import { ENVOY, EnvoyProcess, freePort, localSds, REPO, substitutePorts, waitFor } from '../support/envoy';
import { ExtProcClient } from '../support/extproc-client';
import { MetarouteProcess } from '../support/metaroute-process';
import { describeWith } from '../support/requires';
import { TYPE, XdsTestClient } from '../xds/helpers';

/**
 * The control plane authenticates, through real Envoy 1.40: metaroute runs the TLS settings of
 * deploy/config/metaroute.yaml (mutual TLS on ext_proc and xDS, both admitting the certificate
 * name `envoy`), Envoy runs the shipped deploy/envoy/gateway.yaml (only the DNS name
 * `metaroute`, ports and the mounted certificate folder substituted), and the certificates are
 * what scripts/dev-certs.sh makes. An Envoy with the right certificate gets its clusters and
 * routes by ext_proc's decision; one with another CA's certificate, none, or an unlisted name
 * gets no cluster at all, and an unlisted name given clusters by an xDS token has every
 * request failed by ext_proc.
 */

type Json = Record<string, any>;
const DEPLOY = path.join(REPO, 'deploy');
const XDS_TOKEN = 'xds-token-0123456789abcdef';

describeWith(ENVOY, 'control plane over mutual TLS, with real Envoy', () => {
  describeWith(OPENSSL, 'deploy/envoy/*.yaml against deploy/config/metaroute.yaml', () => {
    let certs: string; // our CA: metaroute/, envoy/, intruder/ (a name xds.clients does not list)
    let foreign: string; // another CA's envoy/: the right name, the wrong issuer
    let metaroute: MetarouteProcess;
    let backends: http.Server[] = [];
    const envoys: EnvoyProcess[] = [];

    beforeAll(async () => {
      certs = devCertificates(['envoy', 'intruder']);
      foreign = devCertificates(['envoy']);
      const shipped = parse(fs.readFileSync(path.join(DEPLOY, 'config', 'metaroute.yaml'), 'utf8')) as Json;
      // The shipped extProc and xds sections, with their relative tls/ paths pointing at the Secret's files;
      // plus a token, for the one test that sends it from Envoy's initial_metadata.
      const tls = (section: Json): Json => ({ ...section, tls: Object.fromEntries(Object.entries(section.tls).map(([k, v]) => [k, path.join(certs, 'metaroute', path.relative('tls', String(v)))])) });
      const xds = tls(shipped.xds);
      metaroute = await MetarouteProcess.start({ extProc: tls(shipped.extProc), xds: { ...xds, clients: { ...xds.clients, tokens: [{ token: XDS_TOKEN }] } } });
      for (const version of ['gray', 'stable']) {
        const server = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(200, { 'x-version': version }).end(version)));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        backends.push(server);
        const port = (server.address() as net.AddressInfo).port;
        const res = await api(metaroute.admin, 'POST', '/v1/instances', { service: 'shop', host: '127.0.0.1', port, metadata: { version }, ephemeral: false });
        expect(res.status).toBe(200);
      }
      expect((await api(metaroute.admin, 'PUT', '/v1/rules', fs.readFileSync(path.join(DEPLOY, 'config', 'rules.yaml'), 'utf8'))).status).toBe(200);
    }, 120_000);

    afterEach(async () => {
      await Promise.all(envoys.splice(0).map((e) => e.stop()));
    });

    /** Directories these tests make, removed at the end. */
    const scratch: string[] = [];
    const scratchDir = (prefix: string): string => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      scratch.push(dir);
      return dir;
    };

    afterAll(async () => {
      await metaroute?.stop();
      await Promise.all(backends.map((s) => new Promise((r) => s.close(r))));
      backends = [];
      for (const dir of scratch.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** A folder holding what the Secret metaroute-envoy-tls would: `files` as tls.crt, tls.key and ca.crt. */
    const secretFolder = (files: { cert?: string; key?: string; ca: string }): string => {
      const dir = scratchDir('metaroute-envoy-tls-');
      fs.copyFileSync(files.ca, path.join(dir, 'ca.crt'));
      if (files.cert && files.key) {
        fs.copyFileSync(files.cert, path.join(dir, 'tls.crt'));
        fs.copyFileSync(files.key, path.join(dir, 'tls.key'));
      }
      return dir;
    };

    /**
     * A shipped deploy/envoy file (the gateway unless said) with its SDS files pointed at `files`
     * (as the mounted Secret; without a certificate, the cluster presents none), `adjust`ed.
     */
    async function startEnvoy(files: { cert?: string; key?: string; ca: string } | string, adjust?: (bootstrap: Json) => void, file = 'gateway.yaml'): Promise<{ envoy: EnvoyProcess; url: string; outbound: number }> {
      const tlsDir = typeof files === 'string' ? files : secretFolder(files);
      const presents = fs.existsSync(path.join(tlsDir, 'tls.crt'));
      const bootstrap = parse(fs.readFileSync(path.join(DEPLOY, 'envoy', file), 'utf8')) as Json;
      const listener = await freePort();
      // The gateway's listener; the sidecar's outbound, inbound and app ports.
      const own = new Map([[10000, listener], [15001, await freePort()], [15006, await freePort()], [8080, await freePort()]]);
      substitutePorts(bootstrap, new Map([...own, [9901, 0], [18080, metaroute.ports.extProc], [18000, metaroute.ports.xds]]));
      for (const cluster of (bootstrap.static_resources.clusters as Json[]).filter((c) => c.name.startsWith('metaroute_'))) {
        for (const e of cluster.load_assignment.endpoints[0].lb_endpoints) {
          expect(e.endpoint.address.socket_address.address).toBe('metaroute'); // the name its certificate must carry
          e.endpoint.address.socket_address.address = '127.0.0.1';
        }
        // One copy per cluster (the shipped file shares one through a YAML alias).
        cluster.transport_socket = structuredClone(cluster.transport_socket);
        if (!presents) delete cluster.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs;
      }
      localSds(bootstrap, tlsDir, scratchDir('metaroute-envoy-sds-'));
      adjust?.(bootstrap);
      const envoy = await EnvoyProcess.start(bootstrap);
      envoys.push(envoy);
      return { envoy, url: `http://127.0.0.1:${listener}`, outbound: own.get(15001)! };
    }
    // Envoy always trusts our CA (metaroute's certificate is fine); only what it presents varies.
    const identity = (dir: string, name: string) => ({ cert: path.join(dir, name, 'tls.crt'), key: path.join(dir, name, 'tls.key'), ca: path.join(certs, 'envoy', 'ca.crt') });

    const dynamicClusters = async (envoy: EnvoyProcess): Promise<string[]> => {
      const dump = JSON.parse((await envoy.admin('/config_dump?resource=dynamic_active_clusters')).text) as { configs?: Array<{ cluster: { name: string } }> };
      return (dump.configs ?? []).map((c) => c.cluster.name).sort();
    };
    const refusals = async (): Promise<number> => Number(/^metaroute_xds_refused_total (\d+)$/m.exec((await api(metaroute.admin, 'GET', '/metrics')).text)?.[1] ?? 0);
    const eventLogs = (event: string) => metaroute.logs.join('').split('\n').filter((l) => l.includes(`"event":"${event}"`)).map((l) => JSON.parse(l) as Json);
    const refusalLogs = () => eventLogs('xds.refused');
    const extProcRefusalLogs = () => eventLogs('extproc.refused');

    /** Envoy tried the xDS connection `times` times and never got a cluster from it. */
    async function expectNoClusters(envoy: EnvoyProcess, failures: () => Promise<number>, times = 2): Promise<void> {
      await waitFor(`${times} failed xDS attempts`, async () => ((await failures()) >= times ? true : undefined), 30_000).catch(async (err: Error) => {
        const stats = (await envoy.admin('/stats?filter=^cluster\\.metaroute_xds\\.')).text.split('\n').filter((l) => /: [1-9]/.test(l));
        throw new Error(`${err.message}\nEnvoy's metaroute_xds stats:\n${stats.join('\n')}\n${envoy.tail()}`);
      });
      // Envoy's gauge is 1 from each retry's stream start until it reads metaroute's refusal: wait it out.
      await waitFor('Envoy to read the refusal', async () => ((await envoy.stat('control_plane.connected_state')) === 0 ? true : undefined), 10_000).catch(() => undefined);
      expect({
        clusters: await dynamicClusters(envoy),
        connected: await envoy.stat('control_plane.connected_state'),
        cdsUpdates: await envoy.stat('cluster_manager.cds.update_success'),
        active: await envoy.stat('cluster_manager.active_clusters'),
      }).toEqual({ clusters: [], connected: 0, cdsUpdates: 0, active: 2 }); // only the two static clusters to metaroute
    }

    test('the envoy certificate: Envoy gets shop.default over ADS, and ext_proc (over TLS 1.3) routes staff to gray', async () => {
      const before = await refusals();
      const { envoy, url } = await startEnvoy(identity(certs, 'envoy'));
      await waitFor('shop.default from ADS', async () => ((await dynamicClusters(envoy)).includes('shop.default') ? true : undefined));
      expect(await envoy.stat('control_plane.connected_state')).toBe(1);
      await waitFor('two shop endpoints over EDS', async () => ((await envoy.stat('cluster.shop.default.membership_healthy')) === 2 ? true : undefined));
      for (let i = 0; i < 8; i++) { // staff to gray by chance: 1 in 256
        const res = await fetch(`${url}/`, { headers: { 'x-user-role': 'staff' } });
        expect({ status: res.status, version: await res.text() }).toEqual({ status: 200, version: 'gray' });
      }
      expect(await envoy.stat('http.gateway.ext_proc.metaroute.streams_started')).toBeGreaterThanOrEqual(8);
      for (const cluster of ['metaroute_xds', 'metaroute_ext_proc']) {
        const handshakes = await envoy.stat(`cluster.${cluster}.ssl.handshake`);
        expect({ cluster, handshakes: handshakes > 0, tls13: await envoy.stat(`cluster.${cluster}.ssl.versions.TLSv1.3`) }).toEqual({ cluster, handshakes: true, tls13: handshakes });
      }
      expect(await refusals()).toBe(before);
    }, 90_000);

    // In TLS 1.3 the server checks the client's certificate after the client has finished its
    // handshake: Envoy counts a handshake, then metaroute ends the connection before the ADS
    // stream has its response headers (Envoy: upstream_cx_destroy_remote_with_active_rq; a missing
    // certificate also counts ssl.connection_error, the alert being CERTIFICATE_REQUIRED).
    test("another CA's certificate with the listed name: metaroute's TLS refuses it, Envoy retries and gets no cluster", async () => {
      const before = await refusals();
      const { envoy } = await startEnvoy(identity(foreign, 'envoy'));
      await expectNoClusters(envoy, () => envoy.stat('cluster.metaroute_xds.upstream_cx_destroy_remote_with_active_rq'));
      expect(await refusals()).toBe(before); // never reached the identity check
    }, 90_000);

    test('no client certificate: metaroute\'s TLS refuses it, Envoy retries and gets no cluster', async () => {
      const { envoy } = await startEnvoy({ ca: path.join(certs, 'envoy', 'ca.crt') });
      await expectNoClusters(envoy, () => envoy.stat('cluster.metaroute_xds.upstream_cx_destroy_remote_with_active_rq'));
    }, 90_000);

    test('our CA but an unlisted name: TLS holds, ADS ends UNAUTHENTICATED (metaroute counts and logs it), Envoy retries and gets no cluster', async () => {
      const before = await refusals();
      const { envoy } = await startEnvoy(identity(certs, 'intruder'));
      await expectNoClusters(envoy, async () => (await refusals()) - before);
      expect(await envoy.stat('cluster.metaroute_xds.ssl.handshake')).toBeGreaterThan(0);
      // Envoy's view: the ADS stream closed with status 16 (UNAUTHENTICATED) and metaroute's reason.
      expect(envoy.logs.join('')).toMatch(/StreamAggregatedResources gRPC config stream to metaroute_xds closed: 16, xDS%20needs%20a%20client%20identity/);
      // metaroute's: the names Envoy's certificate carries (CN and DNS SAN), no token.
      expect(refusalLogs().at(-1)).toMatchObject({ method: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', certificate: ['intruder'], token: false });
    }, 90_000);

    test("an unlisted name with a listed token in the ADS grpc_service's initial_metadata gets the clusters; ext_proc refuses its certificate, so its requests fail (500) and metaroute logs the connection once", async () => {
      const logged = extProcRefusalLogs().length;
      const { envoy, url } = await startEnvoy(identity(certs, 'intruder'), (bootstrap) => {
        bootstrap.dynamic_resources.ads_config.grpc_services[0].initial_metadata = [{ key: 'authorization', value: `Bearer ${XDS_TOKEN}` }];
      });
      await waitFor('two shop endpoints over EDS', async () => ((await envoy.stat('cluster.shop.default.membership_healthy')) === 2 ? true : undefined));
      // The gateway's ext_proc has failure_mode_allow: false, so a failed stream fails the request.
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${url}/`, { headers: { 'x-user-role': 'staff' } });
        expect({ status: res.status, body: await res.text() }).toEqual({ status: 500, body: '' });
      }
      expect(await envoy.stat('http.gateway.ext_proc.metaroute.streams_failed')).toBe(5);
      expect(await envoy.stat('cluster.shop.default.upstream_rq_total')).toBe(0); // nothing reached a backend
      // One connection from this Envoy's ext_proc client: one log line, with the names it presented.
      expect(extProcRefusalLogs().slice(logged).map((r) => r.certificate)).toEqual([['intruder']]);
    }, 90_000);

    test('deploy/envoy/sidecar.yaml with the envoy certificate: shop.default over ADS, and its outbound call routed by ext_proc', async () => {
      const { envoy, outbound } = await startEnvoy(identity(certs, 'envoy'), undefined, 'sidecar.yaml');
      await waitFor('two shop endpoints over EDS', async () => ((await envoy.stat('cluster.shop.default.membership_healthy')) === 2 ? true : undefined));
      // The app calls shop.default through its sidecar's outbound listener (the authority names the cluster).
      const call = () => new Promise<{ status: number; body: string }>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: outbound, path: '/', headers: { host: 'shop.default', 'x-user-role': 'staff' } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString())).on('end', () => resolve({ status: res.statusCode!, body }));
        }).on('error', reject);
      });
      for (let i = 0; i < 8; i++) expect(await call()).toEqual({ status: 200, body: 'gray' }); // by chance: 1 in 256
      for (const cluster of ['metaroute_xds', 'metaroute_ext_proc']) expect(await envoy.stat(`cluster.${cluster}.ssl.versions.TLSv1.3`)).toBeGreaterThan(0);
    }, 90_000);

    test("a rotated Secret (the kubelet's ..data swap) reaches new connections within seconds, without a restart", async () => {
      // The next certificate: the same name and CA, another serial (scripts/dev-certs.sh beside a copy of the CA).
      const next = scratchDir('metaroute-dev-certs-next-');
      for (const f of ['ca.crt', 'ca.key']) fs.copyFileSync(path.join(certs, f), path.join(next, f));
      devCertificates(['envoy'], next);
      const serial = (dir: string) => new X509Certificate(fs.readFileSync(path.join(dir, 'envoy', 'tls.crt'))).serialNumber;
      const [first, second] = [serial(certs), serial(next)];
      expect(first).not.toBe(second);
      const secret = secretVolume();
      scratch.push(secret.dir);
      const project = (dir: string) => secret.project({ 'tls.crt': path.join(dir, 'envoy', 'tls.crt'), 'tls.key': path.join(dir, 'envoy', 'tls.key'), 'ca.crt': path.join(dir, 'envoy', 'ca.crt') });
      project(certs);

      // An HTTPS server standing in for metaroute (its certificate) records the serial each new connection
      // presents; a cluster with metaroute_ext_proc's transport socket health-checks it over a new connection every 200 ms.
      const seen: string[] = [];
      const read = (f: string) => fs.readFileSync(path.join(certs, f));
      const probe = https.createServer({ cert: read('metaroute/tls.crt'), key: read('metaroute/tls.key'), ca: read('ca.crt'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
        req.resume();
        res.end();
      });
      probe.on('secureConnection', (socket: tls.TLSSocket) => seen.push(socket.getPeerCertificate().serialNumber));
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      try {
        const { envoy, url } = await startEnvoy(secret.dir, (bootstrap) => {
          const extProc = (bootstrap.static_resources.clusters as Json[]).find((c) => c.name === 'metaroute_ext_proc')!;
          bootstrap.static_resources.clusters.push({
            name: 'rotation_probe',
            type: 'STATIC',
            connect_timeout: '1s',
            transport_socket: structuredClone(extProc.transport_socket),
            health_checks: [{ timeout: '1s', interval: '0.2s', no_traffic_interval: '0.2s', unhealthy_threshold: 1, healthy_threshold: 1, reuse_connection: false, http_health_check: { path: '/' } }],
            load_assignment: { cluster_name: 'rotation_probe', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: (probe.address() as net.AddressInfo).port } } } }] }] },
          });
        });
        await waitFor('two shop endpoints over EDS', async () => ((await envoy.stat('cluster.shop.default.membership_healthy')) === 2 ? true : undefined));
        const routed = async () => {
          const res = await fetch(`${url}/`, { headers: { 'x-user-role': 'staff' } });
          return { status: res.status, version: await res.text() };
        };
        expect(await routed()).toEqual({ status: 200, version: 'gray' });
        await waitFor('the probe to see the first certificate', async () => (seen.includes(first) ? true : undefined), 10_000);

        const sdsUpdates = () => Promise.all(['metaroute_ext_proc', 'metaroute_xds'].map((c) => envoy.stat(`cluster.${c}.client_ssl_socket_factory.ssl_context_update_by_sds`)));
        const [extProcBefore, xdsBefore] = await sdsUpdates();
        const swapped = Date.now();
        project(next);
        await waitFor('a new connection presenting the rotated certificate', async () => (seen.includes(second) ? true : undefined), 10_000);
        const took = Date.now() - swapped;
        console.log(`rotated certificate on a new connection ${took} ms after the ..data swap`);
        // Connections opened after it present the new one only; the same Envoy updated its TLS contexts to metaroute too.
        const after = seen.length;
        await waitFor('two more probe connections', async () => (seen.length >= after + 2 ? true : undefined), 10_000);
        expect(new Set(seen.slice(after))).toEqual(new Set([second]));
        const [extProcAfter, xdsAfter] = await sdsUpdates();
        expect({ extProc: extProcAfter > extProcBefore, xds: xdsAfter > xdsBefore }).toEqual({ extProc: true, xds: true });
        const certsDump = JSON.parse((await envoy.admin('/certs')).text) as { certificates: Array<{ cert_chain?: Array<{ serial_number: string }> }> };
        const loaded = new Set(certsDump.certificates.flatMap((c) => (c.cert_chain ?? []).map((x) => x.serial_number.toUpperCase())));
        expect(loaded).toEqual(new Set([second]));
        expect(await routed()).toEqual({ status: 200, version: 'gray' });
      } finally {
        await new Promise((resolve) => probe.close(resolve));
      }
    }, 90_000);

    test('a gRPC client without credentials is refused on both ports', async () => {
      const xds = new XdsTestClient(metaroute.ports.xds);
      const extProc = new ExtProcClient(`127.0.0.1:${metaroute.ports.extProc}`);
      try {
        xds.send({ node: { id: 'stranger' }, type_url: TYPE.CDS });
        await expect(xds.next(5000)).rejects.toThrow();
        expect(xds.status?.code ?? (xds.error as grpc.ServiceError | undefined)?.code).toBe(grpc.status.UNAVAILABLE);
        await expect(extProc.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      } finally {
        xds.close();
        extProc.close();
      }
    }, 30_000);
  });
});
