import * as http from 'node:http';
import type * as net from 'node:net';
import * as jose from 'jose';
import { api } from '../support/app';
import { EnvoyProcess, freePort, shippedBootstrap, substitutePorts, waitFor } from '../support/envoy';
import { MetarouteProcess } from '../support/metaroute-process';

/** The shipped gateway's identity provider, as its jwt_authn provider expects tokens. */
export const ISSUER = 'https://idp.example.invalid';
export const AUDIENCE = 'metaroute-gateway';

/** Headers that steer Envoy's routing: only metaroute sets them, and no backend receives them. */
const ROUTING_HEADERS = ['x-metaroute-cluster', 'x-gateway-destination-endpoint'];

export interface Backend {
  readonly id: string;
  readonly service: string;
  readonly port: number;
  readonly metadata: Record<string, string>;
  readonly locality: Record<string, string>;
  readonly healthy: boolean;
}

export interface GatewayRequest {
  readonly path: string;
  /** The cluster the shipped route table sends this path to (what explain is told). */
  readonly cluster: string;
  readonly headers?: Record<string, string>;
  /** Claims of a token signed by the test's IdP (sent as `authorization: Bearer`). */
  readonly claims?: Record<string, unknown>;
}

export interface GatewayAnswer {
  readonly status: number;
  /** The backend that answered, or undefined for a local reply (Envoy's or metaroute's). */
  readonly backend: Backend | undefined;
  readonly body: string;
}

/**
 * metaroute (its own process, real gRPC on loopback) + Envoy 1.40 running the shipped
 * envoy/gateway.yaml with only its ports and its JWKS substituted + real HTTP backends
 * that say who they are. Backends are registered through the admin API; Envoy learns them
 * over metaroute's ADS.
 */
export class Gateway {
  private readonly backends = new Map<string, Backend>();
  private readonly servers: http.Server[] = [];
  private constructor(
    readonly metaroute: MetarouteProcess,
    public envoy: EnvoyProcess,
    private readonly bootstrap: Record<string, unknown>,
    readonly url: string,
    private readonly key: Parameters<jose.SignJWT['sign']>[0],
  ) {}

  /** Stops Envoy and starts a new one on the same bootstrap (same listener port). */
  async restartEnvoy(): Promise<void> {
    await this.envoy.stop();
    this.envoy = await EnvoyProcess.start(this.bootstrap);
  }

  get admin(): string {
    return this.metaroute.admin;
  }

  /**
   * `config`: metaroute server config (YAML/JSON shape) over loopback defaults; `env` for its
   * process; `adjust` changes the gateway bootstrap beyond ports and keys (a test's own variant).
   */
  static async start(config: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}, adjust?: (bootstrap: Record<string, unknown>) => void): Promise<Gateway> {
    const metaroute = await MetarouteProcess.start(config, env);
    const { publicKey, privateKey } = await jose.generateKeyPair('RS256');
    const jwk = { ...(await jose.exportJWK(publicKey)), alg: 'RS256', use: 'sig', kid: 'test' };
    const listener = await freePort();
    const bootstrap = shippedBootstrap('gateway.yaml');
    substitutePorts(bootstrap, new Map([[10000, listener], [9901, 0], [18080, metaroute.ports.extProc], [18000, metaroute.ports.xds]]));
    if (setJwks(bootstrap, JSON.stringify({ keys: [jwk] })) !== 1) throw new Error('gateway.yaml should have one local_jwks');
    adjust?.(bootstrap);
    const envoy = await EnvoyProcess.start(bootstrap);
    return new Gateway(metaroute, envoy, bootstrap, `http://127.0.0.1:${listener}`, privateKey);
  }

  /** Starts an HTTP backend answering with its id, and registers it (persistent) through the admin API. */
  async backend(id: string, service: string, metadata: Record<string, string> = {}, options: { locality?: Record<string, string>; healthy?: boolean } = {}): Promise<Backend> {
    const server = http.createServer((req, res) => {
      req.resume();
      // Routing headers are for Envoy alone: one that reached a backend is named in the body.
      const leaked = ROUTING_HEADERS.filter((name) => req.headers[name] !== undefined);
      res.writeHead(200, { 'x-instance': id, 'content-type': 'text/plain' }).end(leaked.length > 0 ? `${id}, received ${leaked.join(', ')}` : id);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.servers.push(server);
    const port = (server.address() as net.AddressInfo).port;
    const backend: Backend = { id, service, port, metadata, locality: options.locality ?? {}, healthy: options.healthy ?? true };
    const res = await api(this.admin, 'POST', '/v1/instances', {
      service, host: '127.0.0.1', port, metadata, locality: backend.locality, healthy: backend.healthy, ephemeral: false,
    });
    if (res.status >= 300) throw new Error(`registering ${id}: ${res.status} ${res.text}`);
    this.backends.set(String(port), backend);
    return backend;
  }

  backendById(id: string): Backend {
    const backend = [...this.backends.values()].find((b) => b.id === id);
    if (!backend) throw new Error(`no backend ${id}`);
    return backend;
  }

  async rules(yaml: string): Promise<void> {
    const res = await api(this.admin, 'PUT', '/v1/rules', yaml);
    if (res.status >= 300) throw new Error(`rules refused: ${res.status} ${res.text}`);
  }

  /** Pushes a router config and waits (bounded) until ext_proc uses it, i.e. its rollout is done. */
  async routerConfig(name: string, config: object): Promise<void> {
    const res = await api(this.admin, 'PUT', `/v1/routers/${name}/config`, config);
    if (res.status >= 300) throw new Error(`router config refused: ${res.status} ${res.text}`);
    const live = async (): Promise<boolean> => {
      const chain = (await api(this.admin, 'GET', '/v1/routers')).json.chain as Array<{ name: string; config: unknown }>;
      return JSON.stringify(chain.find((r) => r.name === name)?.config) === JSON.stringify(config);
    };
    for (let i = 0; i < 200 && !(await live()); i++) await new Promise((r) => setTimeout(r, 50));
    if (!(await live())) throw new Error(`router ${name}'s config did not go live within 10 s`);
  }

  async token(claims: Record<string, unknown>): Promise<string> {
    return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test' }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('10m').sign(this.key);
  }

  async send(request: GatewayRequest): Promise<GatewayAnswer> {
    const headers: Record<string, string> = { ...request.headers };
    if (request.claims) headers['authorization'] = `Bearer ${await this.token(request.claims)}`;
    const res = await fetch(`${this.url}${request.path}`, { headers });
    const body = await res.text();
    const instance = res.headers.get('x-instance');
    const backend = instance === null ? undefined : [...this.backends.values()].find((b) => b.id === instance);
    return { status: res.status, backend, body };
  }

  /** metaroute's explanation of the same request: the same inputs Envoy's ext_proc filter sends. */
  async explain(request: GatewayRequest): Promise<any> {
    const { path, ...rest } = request;
    const res = await api(this.admin, 'POST', '/explain', {
      cluster: rest.cluster,
      authority: this.url.slice('http://'.length),
      path,
      method: 'GET',
      headers: rest.headers ?? {},
      claims: rest.claims,
      sourceAddress: '127.0.0.1:1',
    });
    if (res.status !== 200) throw new Error(`explain: ${res.status} ${res.text}`);
    return res.json;
  }

  /** Sends through Envoy; the answering backend must be one of `ids` (or the status must match); explain must agree. */
  async expectRoute(request: GatewayRequest, expected: { ids?: readonly string[]; status?: number }): Promise<GatewayAnswer> {
    const answer = await this.send(request);
    const id = answer.backend?.id;
    if (expected.ids) expect({ status: answer.status, id }).toEqual({ status: 200, id: id && expected.ids.includes(id) ? id : `one of ${expected.ids.join(', ')}` });
    if (expected.status) expect({ status: answer.status, body: answer.body }).toEqual({ status: expected.status, body: expect.any(String) });
    await this.expectExplainAgrees(request, answer);
    return answer;
  }

  /** explain's decision, applied to what Envoy did: the same reject, or a backend inside the chosen set. */
  async expectExplainAgrees(request: GatewayRequest, answer: GatewayAnswer): Promise<void> {
    const explained = await this.explain(request);
    const decision = explained.decision;
    const backend = answer.backend;
    const where = { request: request.path, headers: request.headers, decision, answered: backend?.id ?? answer.status };
    switch (decision.kind) {
      case 'reject':
        expect(where).toEqual({ ...where, answered: decision.status });
        break;
      case 'subset':
        expect({ ...where, inSubset: backend !== undefined && hasLabels(backend, decision.labels) }).toEqual({ ...where, inSubset: true });
        break;
      case 'endpoints':
        // A subset-mode cluster has no override_host to read the list: any of its backends (explain says so).
        if (explained.endpointsIgnored) {
          expect({ ...where, service: backend?.service }).toEqual({ ...where, service: explained.service.split('/')[1] });
          break;
        }
        // Each request picks its endpoint by weight, explain's own request too: the backend is one of them.
        expect({ ...where, listed: backend !== undefined && decision.endpoints!.includes(`127.0.0.1:${backend.port}`) }).toEqual({ ...where, listed: true });
        break;
      case 'cluster':
        expect({ ...where, service: backend?.service, inSubset: backend !== undefined && hasLabels(backend, decision.labels) }).toEqual({
          ...where, service: decision.cluster.split('.')[0], inSubset: true,
        });
        break;
      case 'pass':
        expect({ ...where, service: backend?.service }).toEqual({ ...where, service: explained.service.split('/')[1] });
        break;
      default:
        throw new Error(`unexpected decision ${JSON.stringify(decision)}`);
    }
  }

  /** Waits until `request` is answered with `status` (a local reply: Envoy's or metaroute's). */
  async untilStatus(request: GatewayRequest, status: number): Promise<void> {
    await waitFor(`Envoy to answer ${request.path} with ${status}`, async () => ((await this.send(request)).status === status ? true : undefined)).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.envoy.tail()}`);
    });
  }

  /**
   * Waits until Envoy's active `cluster` has `healthy` endpoints and its config names `policy`
   * (as `override_host`): what Envoy applied, whatever ext_proc already answers.
   */
  async untilEnvoyCluster(cluster: string, healthy: number, policy: string): Promise<void> {
    await waitFor(`Envoy's ${cluster} to have ${healthy} healthy endpoints and ${policy}`, async () => {
      if ((await this.envoy.stat(`cluster.${cluster}.membership_healthy`)) !== healthy) return undefined;
      const { text } = await this.envoy.admin('/config_dump?resource=dynamic_active_clusters');
      const active = (JSON.parse(text) as { configs: Array<{ cluster: { name: string } }> }).configs.find((c) => c.cluster.name === cluster);
      return active && JSON.stringify(active.cluster).includes(policy) ? true : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.envoy.tail()}`);
    });
  }

  /** The backends (ids, sorted; 'none' for no backend) that answered `n` sends of `request`, each checked against explain. */
  async answered(request: GatewayRequest, n: number): Promise<string[]> {
    const ids = new Set<string>();
    for (let i = 0; i < n; i++) ids.add((await this.expectRoute(request, {})).backend?.id ?? 'none');
    return [...ids].sort();
  }

  /** Waits until Envoy routes `request` to one of `ids` (xDS reached Envoy). */
  async until(request: GatewayRequest, ids: readonly string[]): Promise<void> {
    await waitFor(`Envoy to route ${request.path} to ${ids.join('/')}`, async () => {
      const answer = await this.send(request);
      return answer.backend && ids.includes(answer.backend.id) ? true : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.envoy.tail()}`);
    });
  }

  /**
   * Sends `request` at a steady `perSecond` (an open loop: on schedule, whatever the answers
   * take) until `stop()`, which waits for the last answers and resolves with every one in
   * sending order: when it was sent, the status, and the backend that answered.
   */
  traffic(request: GatewayRequest, perSecond = 250): { stop: () => Promise<Array<{ at: number; status: number; id: string | undefined }>> } {
    const answers: Array<{ at: number; status: number; id: string | undefined }> = [];
    const inFlight = new Set<Promise<void>>();
    const started = Date.now();
    let sent = 0;
    const tick = setInterval(() => {
      // Catch up on what a late timer missed, so the offered rate holds on a busy machine.
      const due = Math.floor(((Date.now() - started) * perSecond) / 1000);
      for (; sent < due; sent++) {
        const at = Date.now();
        const answered = this.send(request).then(
          ({ status, backend }) => void answers.push({ at, status, id: backend?.id }),
          () => void answers.push({ at, status: 0, id: undefined }),
        );
        inFlight.add(answered);
        void answered.then(() => inFlight.delete(answered));
      }
    }, 5);
    return {
      stop: async () => {
        clearInterval(tick);
        await Promise.all(inFlight);
        return answers.sort((x, y) => x.at - y.at);
      },
    };
  }

  /** Parsed JSON access-log lines Envoy printed so far (complete lines only: the last may still be half-written). */
  accessLog(): Array<Record<string, unknown>> {
    return this.envoy.stdout.join('').split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async stop(): Promise<void> {
    await this.envoy.stop();
    await this.metaroute.stop();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** Puts the test IdP's public keys where the shipped gateway has its placeholder JWKS. */
function setJwks(node: unknown, jwks: string): number {
  if (Array.isArray(node)) return node.reduce((n: number, v) => n + setJwks(v, jwks), 0);
  if (typeof node !== 'object' || node === null) return 0;
  const o = node as Record<string, unknown>;
  if (o['local_jwks']) {
    o['local_jwks'] = { inline_string: jwks };
    return 1;
  }
  return Object.values(o).reduce((n: number, v) => n + setJwks(v, jwks), 0);
}

/** True when the backend carries every label (`''` = lacks the key), as Envoy's subset LB matches them. */
export function hasLabels(backend: Backend, labels: Record<string, string>): boolean {
  const all: Record<string, string> = { ...backend.metadata };
  for (const [k, v] of Object.entries(backend.locality)) all[`metaroute.io/${k}`] = v;
  return Object.entries(labels).every(([k, v]) => (all[k] ?? '') === v);
}
