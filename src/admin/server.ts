import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DecideOptions } from '../extproc/decide';
import type { RuleSnapshot } from '../model/rule';
import { MAX_BATCH_ENTRIES, parseBatch, parseRef } from '../registry/batch-input';
import { parseInstance } from '../registry/instance-input';
import type { Registry } from '../registry/registry';
import type { InstanceRef, RegistryStoreSync } from '../registry/store-sync';
import type { RoutingEngine } from '../routing/engine';
import { StoreUnavailableError } from '../store/store';
import { redactSecrets, type AdminAuth } from './auth';
import { explain, type ExplainRequest } from './explain';
import { HttpError, readBody, readJson, send } from './http';
import type { MetricsRegistry } from '../metrics/metrics';
import { serialize } from './schemas';

/** What the rules API needs of the live rules (implemented by app/rules-source.ts). */
export interface RulesPort {
  readonly snapshot: RuleSnapshot;
  readonly document: { readonly text: string; readonly origin: string };
  /** Validates and stores a new rule document; an invalid one changes nothing. */
  update(text: string, origin: string): Promise<{ ok: true; version: number } | { ok: false; message: string }>;
}

export interface AdminDeps {
  readonly metrics: MetricsRegistry;
  readonly registry: Registry;
  readonly sync: RegistryStoreSync;
  readonly ttlSeconds: number;
  readonly rules: RulesPort;
  readonly engine: RoutingEngine;
  /** What ext_proc decides with, so explain decides the same way. */
  readonly decideOptions: DecideOptions;
  readonly auth: AdminAuth;
  ready(): boolean;
  /** Validates (by calling the router's configure) and stores a router's new config. */
  pushRouterConfig(name: string, config: unknown): Promise<void>;
  configDump(): Record<string, unknown> | Promise<Record<string, unknown>>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, params: string[], url: URL) => Promise<void> | void;
/** `registration` routes check their token against the instance themselves; unlisted routes are `admin`. */
type Access = 'open' | 'registration' | 'admin';

/**
 * The admin HTTP API: health, metrics, registration, rules, router config, explain and
 * the config dump. Errors are JSON `{error, details}` with the field at fault named.
 */
export class AdminServer {
  private readonly server: http.Server;
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: Handler; access: Access }> = [];

  constructor(private readonly deps: AdminDeps) {
    this.route('GET', '/healthz', (_q, res) => send(res, 200, serialize.status({ status: 'ok' })), 'open');
    this.route('GET', '/readyz', (_q, res) => {
      const ready = deps.ready();
      send(res, ready ? 200 : 503, serialize.status({ status: ready ? 'ready' : 'starting' }));
    }, 'open');
    this.route('GET', '/metrics', (_q, res) => send(res, 200, deps.metrics.render(), 'text/plain; version=0.0.4'), 'open');
    this.route('POST', '/v1/instances', (req, res) => this.register(req, res), 'registration');
    this.route('POST', '/v1/instances/batch', (req, res) => this.registerBatch(req, res), 'registration');
    this.route('POST', '/v1/heartbeats', (req, res) => this.heartbeats(req, res), 'registration');
    this.route('GET', '/v1/instances', (_q, res, _p, url) => this.listInstances(res, url));
    this.route('PUT', '/v1/instances/([^/]+)/([^/]+)/([^/]+)/heartbeat', async (req, res, [ns, svc, id]) => {
      this.authorizeExisting(req, res, 'heartbeat', ns!, svc!, id!);
      if (!(await deps.sync.heartbeat(ns!, svc!, id!))) throw new HttpError(404, `instance ${ns}/${svc}/${id} is not registered; register it again`);
      send(res, 200, serialize.status({ status: 'ok' }));
    }, 'registration');
    this.route('DELETE', '/v1/instances/([^/]+)/([^/]+)/([^/]+)', async (req, res, [ns, svc, id]) => {
      this.authorizeExisting(req, res, 'deregister', ns!, svc!, id!);
      if (!(await deps.sync.deregister(ns!, svc!, id!))) throw new HttpError(404, `instance ${ns}/${svc}/${id} is not registered`);
      send(res, 200, serialize.status({ status: 'deregistered' }));
    }, 'registration');
    this.route('GET', '/v1/rules', (_q, res) => {
      const doc = deps.rules.document;
      send(res, 200, serialize.rules({ version: deps.rules.snapshot.version, origin: doc.origin, text: doc.text }));
    });
    this.route('PUT', '/v1/rules', async (req, res) => {
      const text = await readBody(req);
      const result = await deps.rules.update(text, 'api');
      if (!result.ok) throw new HttpError(400, 'rules rejected; the previous rules keep serving', result.message.split('\n'));
      send(res, 200, serialize.ruleUpdate({ version: result.version }));
    });
    this.route('GET', '/v1/routers', (_q, res) => send(res, 200, serialize.routers({ routers: [...deps.engine.routerNames] })));
    this.route('PUT', '/v1/routers/([^/]+)/config', async (req, res, [name]) => {
      const config = await readJson(req);
      try {
        await deps.pushRouterConfig(name!, config);
      } catch (error) {
        if (error instanceof StoreUnavailableError) throw error;
        throw new HttpError(400, `router ${name} refused the config; its previous config stays`, [(error as Error).message]);
      }
      send(res, 200, serialize.status({ status: 'configured' }));
    });
    this.route('POST', '/explain', async (req, res) => {
      const body = await readJson(req);
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object');
      send(res, 200, serialize.explain(await explain(deps.engine, body as ExplainRequest, deps.decideOptions)));
    });
    this.route('GET', '/config_dump', async (_q, res) => send(res, 200, serialize.dump(redactSecrets(await deps.configDump()))));
    this.server = http.createServer((req, res) => void this.dispatch(req, res));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private route(method: string, path: string, handler: Handler, access: Access = 'admin'): void {
    this.routes.push({ method, pattern: new RegExp(`^${path}$`), handler, access });
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    try {
      let pathMatched = false;
      for (const r of this.routes) {
        const m = r.pattern.exec(url.pathname);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== req.method) continue;
        if (r.access === 'admin') this.deps.auth.requireAdmin(req, res);
        await r.handler(req, res, m.slice(1).map(decodePathPart), url);
        return;
      }
      throw pathMatched ? new HttpError(405, `${req.method} not allowed on ${url.pathname}`) : new HttpError(404, `no such endpoint: ${url.pathname}`);
    } catch (error) {
      const e = error instanceof HttpError ? error
        : error instanceof StoreUnavailableError ? new HttpError(503, (error as Error).message)
        : new HttpError(500, (error as Error).message);
      if (!res.headersSent) send(res, e.status, serialize.error({ error: e.message, details: [...e.details] }));
      else res.destroy();
    }
  }

  private async register(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const grant = this.deps.auth.registrant(req, res);
    const parsed = parseInstance(await readJson(req), { ttlSeconds: this.deps.ttlSeconds });
    if (!parsed.ok) throw new HttpError(400, 'invalid instance', parsed.errors);
    const { namespace, service, id } = parsed.instance;
    this.deps.auth.authorize(grant, 'register', parsed.instance);
    // Re-registering an id overwrites it: the token must also cover the instance it replaces.
    const existing = this.deps.registry.get(namespace, service, id);
    if (existing) this.deps.auth.authorize(grant, 'replace', existing);
    await this.deps.sync.register(parsed.instance);
    send(res, 200, serialize.instance(parsed.instance));
  }

  /**
   * Registers, replaces and removes many instances in one call, validated and authorized as
   * a whole (one bad entry refuses the batch, naming its index and field); answered once
   * every write is durable and applied.
   */
  private async registerBatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const grant = this.deps.auth.registrant(req, res);
    const parsed = await parseBatch(await readJson(req), { ttlSeconds: this.deps.ttlSeconds });
    if (!parsed.ok) throw new HttpError(400, 'invalid batch; nothing was changed', parsed.errors);
    const { register, deregister } = parsed.batch;
    if (grant) register.forEach((instance, i) => {
      this.authorizeEntry(grant, 'register', instance, `register[${i}]`);
      const existing = this.deps.registry.get(instance.namespace, instance.service, instance.id);
      if (existing) this.authorizeEntry(grant, 'replace', existing, `register[${i}]`);
    });
    if (grant) deregister.forEach((ref, i) => {
      this.authorizeEntry(grant, 'deregister', this.deps.registry.get(ref.namespace, ref.service, ref.id) ?? ref, `deregister[${i}]`);
    });
    const existed = await this.deps.sync.batch(register, deregister);
    const missing = deregister.filter((_, i) => !existed[i]);
    send(res, 200, serialize.batch({ registered: register.length, deregistered: deregister.length - missing.length, missing }));
  }

  /**
   * Heartbeats of many instances in one call (`{instances: [{namespace, service, id}...]}`):
   * the agent's batched liveness. Answers which of them are unknown (to register again).
   */
  private async heartbeats(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const grant = this.deps.auth.registrant(req, res);
    const body = await readJson(req);
    const list = (body as { instances?: unknown } | null)?.instances;
    if (!Array.isArray(list)) throw new HttpError(400, 'body must be {"instances": [{"namespace", "service", "id"}...]}', ['instances: must be a list']);
    if (list.length > MAX_BATCH_ENTRIES) throw new HttpError(400, `at most ${MAX_BATCH_ENTRIES} heartbeats per call`, [`instances: ${list.length} entries`]);
    const errors: string[] = [];
    const refs = list.map((entry, i) => parseRef(entry, `instances[${i}]`, errors));
    if (errors.length) throw new HttpError(400, 'invalid heartbeats; none was applied', errors);
    if (grant) refs.forEach((ref, i) => this.authorizeEntry(grant, 'heartbeat', this.deps.registry.get(ref!.namespace, ref!.service, ref!.id) ?? ref!, `instances[${i}]`));
    const alive = await this.deps.sync.heartbeats(refs as InstanceRef[]);
    const unknown = refs.filter((_, i) => !alive[i]);
    send(res, 200, serialize.heartbeats({ alive: refs.length - unknown.length, unknown }));
  }

  private authorizeEntry(grant: ReturnType<AdminAuth['registrant']>, verb: string, target: Parameters<AdminAuth['authorize']>[2], at: string): void {
    try {
      this.deps.auth.authorize(grant, verb, target);
    } catch (error) {
      if (error instanceof HttpError) throw new HttpError(error.status, `${at}: ${error.message}; nothing was changed`);
      throw error;
    }
  }

  /** Heartbeat and deregister: the token must cover the service, and the instance's labels when it exists. */
  private authorizeExisting(req: http.IncomingMessage, res: http.ServerResponse, verb: string, namespace: string, service: string, id: string): void {
    const grant = this.deps.auth.registrant(req, res);
    this.deps.auth.authorize(grant, verb, this.deps.registry.get(namespace, service, id) ?? { namespace, service });
  }

  private listInstances(res: http.ServerResponse, url: URL): void {
    const service = url.searchParams.get('service');
    const namespace = url.searchParams.get('namespace');
    const instances = [];
    for (const view of this.deps.registry.snapshot().services.values()) {
      if (service && view.name !== service) continue;
      if (namespace && view.namespace !== namespace) continue;
      instances.push(...view.instances);
    }
    send(res, 200, serialize.instances({ instances }));
  }
}

function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in the path: ${part}`);
  }
}
