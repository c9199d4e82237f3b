import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { DecideOptions } from '../extproc/decide';
import { serviceKey, type Instance, type InstanceRef } from '../model/instance';
import { resultInSlices, type Steps } from '../model/slices';
import type { LifecyclePhase } from '../extproc/health';
import type { Logger } from '../log/logger';
import type { CertificateFiles } from '../tls/certificate-files';
import { VERSION } from '../model/build-info';
import type { RuleSnapshot } from '../model/rule';
import { heartbeatsList, MAX_BATCH_ENTRIES, parseBatch, parseRefs } from '../registry/batch-input';
import { ChangedInstances } from '../registry/changed-instances';
import { parseInstance } from '../registry/instance-input';
import type { Registry } from '../registry/registry';
import type { RegistryStoreSync } from '../registry/store-sync';
import type { RoutingEngine } from '../routing/engine';
import { StoreUnavailableError } from '../store/store';
import { redactSecrets, type AdminAuth, type AuthToken } from './auth';
import { explain, parseExplainRequest } from './explain';
import { heartbeatsBodySteps } from './heartbeats-body';
import { HttpError, knownParams, readBody, readJson, refuseBody, send, sendChunks } from './http';
import { instanceListChunks } from './instance-list';
import type { ServiceSplit } from '../metrics/decision-split';
import type { MetricsRegistry } from '../metrics/metrics';
import type { RuleError } from '../rules/errors';
import { ruleCounts, type RuleFormat } from '../rules';
import { runtimeMetrics } from '../metrics/runtime';
import { XDS_SECTIONS } from '../xds';
import { ConsoleAssets } from './console-assets';
import { ruleFormat } from './rules-media';
import { ScopeCounts } from './scope-counts';
import { IntervalCache } from './interval-cache';
import { openApiDocument } from './openapi';
import { serialize } from './schemas';
import { instancePage, serviceSummaries, subsetSizes, type InstancePage, type SubsetSize } from './services';

/** What the rules API needs of the live rules (implemented by app/rules-source.ts). */
export interface RulesPort {
  readonly snapshot: RuleSnapshot;
  /** `format`: how its text is read, so an editor sends it back as that. */
  readonly document: { readonly text: string; readonly origin: string; readonly format: RuleFormat };
  /** Set while rules come from a watched file: the API may then not change them. */
  readonly file: string | undefined;
  /** Validates and stores a new rule document; an invalid one changes nothing. */
  update(text: string, origin: string, expected: number | undefined, format: RuleFormat): Promise<{ ok: true; version: number } | { ok: false; message: string; conflict?: true; precondition?: true }>;
  /** Validates a document without storing it. */
  check(text: string, format: RuleFormat): Promise<readonly RuleError[]>;
  /** Documents applied on this replica, newest first. */
  readonly history: readonly { readonly version: number; readonly origin: string; readonly at: number; readonly text: string; readonly format: RuleFormat }[];
  readonly lastReload: { readonly ok: boolean; readonly at: number } | undefined;
}

export interface AdminDeps {
  readonly metrics: MetricsRegistry;
  /** With workers: their ext_proc metrics, summed, as exposition text appended to this process's. */
  extProcMetrics?(): Promise<string>;
  readonly registry: Registry;
  readonly sync: RegistryStoreSync;
  readonly ttlSeconds: number;
  readonly rules: RulesPort;
  readonly engine: RoutingEngine;
  /** What ext_proc decides with, so explain decides the same way. */
  readonly decideOptions: DecideOptions;
  readonly auth: AdminAuth;
  readonly log: Logger;
  /** The admin listener's TLS files; plain HTTP without. */
  readonly tls?: CertificateFiles;
  phase(): LifecyclePhase;
  /** ext_proc servers answering: the in-process one, or the workers that serve (0: ext_proc is down, not ready). */
  extProcServers(): number;
  /** A served xDS resource with its JSON text in chunks (converted in slices: it may be megabytes). */
  xdsResource(resource: string, name: string): Promise<{ type_url: string; version: string; resourceJson: string[] } | undefined>;
  /** Whether that xDS resource is served, without building or converting it (a HEAD request). */
  xdsServes(resource: string, name: string): boolean;
  /** Validates (by calling the router's configure) and stores a router's new config. */
  pushRouterConfig(name: string, config: unknown): Promise<void>;
  /** Deletes a router's pushed config (back to the configuration file's); false when none was pushed. */
  withdrawRouterConfig(name: string): Promise<boolean>;
  /** Whether a router of that name is in the chain. */
  hasRouter(name: string): boolean;
  configDump(): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** A service's decisions per second, fed by ext_proc (the console's live split; with workers, summed over them). */
  split(serviceKey: string): ServiceSplit | Promise<ServiceSplit>;
  /** The subset selectors (label-key sets) xDS serves for a service (`namespace/service`). */
  selectors(serviceKey: string): readonly (readonly string[])[];
  /** The xDS streams as the config dump lists them. */
  proxies(): readonly unknown[];
  /** Each router's current configuration, by name (absent: never configured). */
  routerConfigs(): Record<string, unknown>;
  readonly store: { readonly kind: 'embedded' | 'etcd'; readonly where: string };
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, params: string[], url: URL) => Promise<void> | void;
/** `registration` routes check their token against the instance themselves; unlisted routes are `admin` (reads), `admin-write` changes rules or routers. */
type Access = 'open' | 'registration' | 'admin' | 'admin-write';

/** What a registration's checks read from the registry (`AdminServer.registeringState`). */
interface RegisteringState {
  readonly existing: Instance | undefined;
  readonly holder: Instance | undefined;
}

/** What a batch's sliced checks read from the registry, entry by entry. */
interface BatchSeen {
  readonly register: RegisteringState[];
  readonly deregister: Array<Instance | undefined>;
}

/**
 * The admin HTTP API: health, metrics, registration, rules, router config, explain and
 * the config dump. Errors are JSON `{error, details}` with the field at fault named.
 */
export class AdminServer {
  private readonly server: http.Server;
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: Handler; access: Access }> = [];
  /**
   * Per token with maxInstances, what its calls on their way to the registry do: the instances
   * they register (new or not; per key, the instance and how many calls), and those they count
   * on removing.
   */
  private readonly pending = new Map<AuthToken, { registering: Map<string, { instance: Instance; calls: number }>; removing: Set<string> }>();
  /** Per token with maxInstances, its instances in the registry. */
  private readonly quotaCounts: ScopeCounts<AuthToken>;
  private readonly openApi = JSON.stringify(openApiDocument(VERSION));
  private readonly console = new ConsoleAssets();
  /** What consoles poll is computed once per second, however many are open. */
  private readonly perSecond = new IntervalCache<string>(1000);
  private readonly subsetsPerSecond = new IntervalCache<Promise<{ subsets: SubsetSize[]; omitted: number }>>(1000);
  private readonly splitPerSecond = new IntervalCache<Promise<string>>(1000);
  /** A service page's instances, by service and query: one pass over the service per second for every console showing that page. */
  private readonly pagesPerSecond = new IntervalCache<InstancePage>(1000);

  constructor(private readonly deps: AdminDeps) {
    this.quotaCounts = new ScopeCounts(deps.registry, deps.auth.tokens, (token) => deps.auth.allowedAddresses(token));
    this.route('GET', '/healthz', (_q, res) => send(res, 200, serialize.status({ status: 'ok' })), 'open');
    this.route('GET', '/readyz', (_q, res) => {
      const phase = deps.phase();
      const status = phase !== 'serving' ? phase : deps.extProcServers() === 0 ? 'no ext_proc worker' : 'ready';
      send(res, status === 'ready' ? 200 : 503, serialize.status({ status }));
    }, 'open');
    this.route('GET', '/metrics', async (_q, res) => {
      const text = deps.metrics.render() + ((await deps.extProcMetrics?.()) ?? '') + (await runtimeMetrics());
      send(res, 200, text, 'text/plain; version=0.0.4');
    }, 'open');
    this.route('GET', '/openapi.json', (_q, res) => send(res, 200, this.openApi), 'open');
    this.route('POST', '/v1/instances', (req, res) => this.register(req, res), 'registration');
    this.route('POST', '/v1/instances/batch', (req, res) => this.registerBatch(req, res), 'registration');
    this.route('POST', '/v1/heartbeats', (req, res) => this.heartbeats(req, res), 'registration');
    this.route('GET', '/v1/instances', (_q, res, _p, url) => this.listInstances(res, url));
    this.route('PUT', '/v1/instances/([^/]+)/([^/]+)/([^/]+)/heartbeat', async (req, res, [ns, svc, id]) => {
      const grant = deps.auth.registrant(req, res);
      await refuseBody(req, 'PUT /v1/instances/{namespace}/{service}/{id}/heartbeat', 'To heartbeat many instances at once: POST /v1/heartbeats {"instances": [...]}');
      this.authorizeExisting(grant, 'heartbeat', ns!, svc!, id!);
      if (!(await deps.sync.heartbeat(ns!, svc!, id!))) throw new HttpError(404, `instance ${ns}/${svc}/${id} is not registered; register it again`);
      send(res, 200, serialize.status({ status: 'ok' }));
    }, 'registration');
    this.route('DELETE', '/v1/instances/([^/]+)/([^/]+)/([^/]+)', async (req, res, [ns, svc, id]) => {
      const grant = deps.auth.registrant(req, res);
      await refuseBody(req, 'DELETE /v1/instances/{namespace}/{service}/{id}', 'To deregister many instances at once: POST /v1/instances/batch {"deregister": [...]}');
      this.authorizeExisting(grant, 'deregister', ns!, svc!, id!);
      if (!(await deps.sync.deregister(ns!, svc!, id!))) throw new HttpError(404, `instance ${ns}/${svc}/${id} is not registered`);
      send(res, 200, serialize.status({ status: 'deregistered' }));
    }, 'registration');
    this.route('GET', '/v1/rules', (_q, res) => {
      const doc = deps.rules.document;
      res.setHeader('etag', `"${deps.rules.snapshot.version}"`); // what a PUT's If-Match names
      send(res, 200, serialize.rules({ version: deps.rules.snapshot.version, origin: doc.origin, format: doc.format, text: doc.text }));
    });
    // A refused write changed nothing and its caller has the errors: counted, not an alert (rules_last_reload_success).
    const rulesRefused = deps.metrics.counter('metaroute_rules_api_refused_total', 'PUT /v1/rules refused with 400 (an invalid or empty document): nothing changed, the previous rules keep serving');
    this.route('PUT', '/v1/rules', async (req, res) => {
      if (deps.rules.file) throw new HttpError(409, `rules come from the rules file ${deps.rules.file} (rulesFile in the server config): edit that file, or remove rulesFile to manage rules through this API`);
      const expected = ifMatchVersion(req.headers['if-match']);
      const format = ruleFormat(req, res);
      const text = await readBody(req);
      if (isBlank(text)) {
        rulesRefused.inc();
        throw new HttpError(400, BLANK_RULES);
      }
      // An editor that read version N replaces N only: a change made since would be undone unseen (checked again where it is stored).
      const live = deps.rules.snapshot.version;
      if (expected !== undefined && expected !== live) throw new HttpError(412, `the rules are at version ${live}, not ${expected} (If-Match): nothing was stored; read them and try again`);
      const result = await deps.rules.update(text, 'api', expected, format);
      if (!result.ok && result.conflict) throw new HttpError(result.precondition ? 412 : 409, result.message);
      if (!result.ok) {
        rulesRefused.inc();
        throw new HttpError(400, 'rules rejected; the previous rules keep serving', result.message.split('\n'));
      }
      send(res, 200, serialize.ruleUpdate({ version: result.version }));
    }, 'admin-write');
    this.route('GET', '/v1/routers', (_q, res) => {
      const configs = deps.routerConfigs();
      const chain = deps.engine.routerChain.map(({ name, order }) => ({ name, order, config: configs[name] ?? null, etag: configTag(configs[name]) }));
      send(res, 200, serialize.routers({ routers: chain.map((r) => r.name), chain }));
    });
    this.route('GET', '/v1/rules/history', (_q, res) => {
      send(res, 200, serialize.rulesHistory({ versions: deps.rules.history.map((h) => ({ ...h, at: new Date(h.at).toISOString() })) }));
    });
    this.route('POST', '/v1/rules/check', async (req, res) => {
      const format = ruleFormat(req, res);
      const text = await readBody(req);
      const errors = isBlank(text) ? [{ path: '', message: BLANK_RULES }] : await deps.rules.check(text, format);
      send(res, 200, serialize.rulesCheck({ ok: errors.length === 0, errors }));
    });
    this.route('GET', '/v1/overview', (_q, res) => send(res, 200, this.perSecond.get('overview', () => this.overview())));
    this.route('GET', '/v1/proxies', (_q, res) => send(res, 200, this.perSecond.get('proxies', () => serialize.proxies({ proxies: deps.proxies() }))));
    this.route('GET', '/v1/services/([^/]+)/([^/]+)', async (_q, res, [ns, svc], url) => {
      knownParams(url.searchParams, ['offset', 'limit', 'filter']);
      const view = this.service(ns!, svc!);
      const { subsets, omitted } = await this.subsetsPerSecond.get(view.key, () => resultInSlices(subsetSizes(view, deps.selectors(view.key))));
      const summary = { namespace: view.namespace, service: view.name, cluster: view.cluster, instances: view.instances.length, healthy: view.healthy };
      send(res, 200, serialize.service({ summary, subsets, subsetsOmitted: omitted, page: this.pagesPerSecond.get(`${view.key}?${url.search}`, () => instancePage(deps.registry, view, url.searchParams)) }));
    });
    this.route('GET', '/v1/services/([^/]+)/([^/]+)/split', async (_q, res, [ns, svc]) => {
      const key = this.service(ns!, svc!).key;
      send(res, 200, await this.splitPerSecond.get(key, async () => serialize.split(await deps.split(key))));
    });
    this.route('GET', '/ui/(|assets/[^/]+)', async (_q, res, _p, url) => {
      const asset = await this.console.get(url.pathname);
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': asset.body.length,
        'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        // The console loads only its own files and talks only to this server.
        'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
      });
      res.end(asset.body);
    }, 'open');
    this.route('PUT', '/v1/routers/([^/]+)/config', async (req, res, [name]) => {
      if (!deps.hasRouter(name!)) throw new HttpError(404, `no router named ${name}`);
      const config = await readJson(req);
      checkConfigTag(req.headers['if-match'], name!, deps.routerConfigs()[name!]);
      if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new HttpError(400, `a router config is a JSON object, got ${Array.isArray(config) ? 'an array' : JSON.stringify(config)}`);
      try {
        await deps.pushRouterConfig(name!, config);
      } catch (error) {
        if (error instanceof StoreUnavailableError) throw error;
        throw new HttpError(400, `router ${name} refused the config; its previous config stays`, [(error as Error).message]);
      }
      send(res, 200, serialize.status({ status: 'configured' }));
    }, 'admin-write');
    this.route('DELETE', '/v1/routers/([^/]+)/config', async (req, res, [name]) => {
      await refuseBody(req, 'DELETE /v1/routers/{name}/config', "To push a router's config: PUT /v1/routers/{name}/config");
      if (!deps.hasRouter(name!)) throw new HttpError(404, `no router named ${name}`);
      checkConfigTag(req.headers['if-match'], name!, deps.routerConfigs()[name!]);
      // Nothing stored is what a DELETE asks for: a retry whose first answer was lost must not read as a failure.
      const withdrawn = await deps.withdrawRouterConfig(name!);
      send(res, 200, serialize.status({ status: withdrawn ? 'withdrawn' : 'not-stored' }));
    }, 'admin-write');
    this.route('POST', '/explain', async (req, res) => {
      send(res, 200, serialize.explain(await explain(deps.engine, parseExplainRequest(await readJson(req)), deps.decideOptions, deps.selectors)));
    });
    this.route('GET', '/config_dump', (req, res, _p, url) => this.configDump(req, res, url));
    const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.dispatch(req, res);
    if (deps.tls) {
      const server = https.createServer({ requestCert: deps.tls.mutual, rejectUnauthorized: deps.tls.mutual }, handle);
      deps.tls.serve(server);
      this.server = server;
    } else {
      this.server = http.createServer(handle);
    }
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    this.quotaCounts.close();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private route(method: string, path: string, handler: Handler, access: Access = 'admin'): void {
    this.routes.push({ method, pattern: new RegExp(`^${path}$`), handler, access });
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    // HEAD is GET without the body (node:http leaves the body out of a HEAD answer).
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    try {
      const allowed = new Set<string>();
      for (const r of this.routes) {
        const m = r.pattern.exec(url.pathname);
        if (!m) continue;
        allowed.add(r.method);
        if (r.method === 'GET') allowed.add('HEAD');
        if (r.method !== method) continue;
        if (r.access === 'admin' || r.access === 'admin-write') this.deps.auth.requireAdmin(req, res, r.access === 'admin-write');
        await r.handler(req, res, m.slice(1).map(decodePathPart), url);
        return;
      }
      if (allowed.size === 0) throw new HttpError(404, `no such endpoint: ${url.pathname}`);
      res.setHeader('allow', [...allowed].join(', '));
      throw new HttpError(405, `${req.method} not allowed on ${url.pathname} (allowed: ${[...allowed].join(', ')})`);
    } catch (error) {
      const e = error instanceof HttpError ? error
        : error instanceof StoreUnavailableError ? new HttpError(503, (error as Error).message)
        : new HttpError(500, (error as Error).message);
      if (e.status >= 500) this.deps.log.error({ event: 'admin.failed', method: req.method, path: url.pathname, err: error }, 'admin request failed');
      // The rest of a body over the limit is not read: the connection ends after the answer, and says so.
      if (e.status === 413 && !res.headersSent) res.setHeader('connection', 'close');
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
    const holder = this.deps.registry.at(namespace, service, parsed.instance.host, parsed.instance.port);
    this.authorizeDisplacing(grant, parsed.instance, holder, '');
    const displaced = holder && holder.id !== id ? [holder] : [];
    const release = this.reserveQuota(grant, { adding: existing ? [] : [instanceKey(parsed.instance)], registering: [parsed.instance], removing: displaced }, () => '');
    try {
      await this.deps.sync.register(parsed.instance);
    } finally {
      release();
    }
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
    let fresh: Array<{ instance: Instance; i: number }> = [];
    let removing: Instance[] = [];
    if (grant) {
      const changes = new ChangedInstances(this.deps.registry);
      try {
        const seen = await resultInSlices(this.authorizeBatch(grant, register, deregister));
        // Checked again in the turn the writes start: what the registry does after that is the
        // window any registration has between its check and its write applying.
        ({ fresh, removing } = this.recheckBatch(grant, register, deregister, seen, changes));
      } finally {
        changes.close();
      }
    }
    const release = this.reserveQuota(grant, { adding: fresh.map(({ instance }) => instanceKey(instance)), registering: register, removing }, (k) => `register[${fresh[k]!.i}]: `);
    let existed: boolean[];
    try {
      // A quota counted on the deregistrations: they are durable before any registration is written.
      existed = await this.deps.sync.batch(register, deregister, { removeFirst: grant?.maxInstances !== undefined && deregister.length > 0 });
    } finally {
      release();
    }
    const missing = deregister.filter((_, i) => !existed[i]);
    send(res, 200, serialize.batch({ registered: register.length, deregistered: deregister.length - missing.length, missing }));
  }

  /**
   * Heartbeats of many instances in one call (`{instances: [{namespace, service, id}...]}`):
   * the agent's batched liveness. Answers which of them are unknown (to register again).
   */
  private async heartbeats(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const grant = this.deps.auth.registrant(req, res);
    // No repeated-key scan: it would nearly double the read of the busiest body (10,000 heartbeats:
    // 4-5 ms besides 5-6), and a repeated key here stores nothing, only names another instance to keep.
    const body = await readJson(req, (text) => resultInSlices(heartbeatsBodySteps(text)));
    const shape = heartbeatsList(body);
    if (!shape.ok) throw new HttpError(400, 'body must be {"instances": [{"namespace", "service", "id"}...]}', shape.errors);
    const { list } = shape;
    if (list.length > MAX_BATCH_ENTRIES) throw new HttpError(400, `at most ${MAX_BATCH_ENTRIES} heartbeats per call`, [`instances: ${list.length} entries`]);
    const errors: string[] = [];
    const refs = await parseRefs(list, 'instances', errors);
    if (errors.length) throw new HttpError(400, 'invalid heartbeats; none was applied', errors);
    if (grant) {
      const changes = new ChangedInstances(this.deps.registry);
      try {
        const seen = await resultInSlices(this.authorizeHeartbeats(grant, refs as InstanceRef[]));
        this.recheckHeartbeats(grant, refs as InstanceRef[], seen, changes); // in the turn they are applied
      } finally {
        changes.close();
      }
    }
    const alive = await this.deps.sync.heartbeats(refs as InstanceRef[]);
    const unknown = refs.filter((_, i) => !alive[i]);
    send(res, 200, serialize.heartbeats({ alive: refs.length - unknown.length, unknown }));
  }

  /**
   * Authorizes every heartbeat of a call before any is applied, a step per entry run in slices
   * (see authorizeBatch). Returns the instance each check saw (`recheckHeartbeats`).
   */
  private *authorizeHeartbeats(grant: AuthToken, refs: readonly InstanceRef[]): Steps<Array<Instance | undefined>> {
    const seen: Array<Instance | undefined> = [];
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i]!;
      const target = this.deps.registry.get(ref.namespace, ref.service, ref.id);
      this.authorizeEntry(grant, 'heartbeat', target ?? ref, `instances[${i}]`);
      seen.push(target);
      yield;
    }
    return seen;
  }

  /** Checks again, synchronously, each heartbeat whose instance changed while the checks ran in slices. */
  private recheckHeartbeats(grant: AuthToken, refs: readonly InstanceRef[], seen: ReadonlyArray<Instance | undefined>, changes: ChangedInstances): void {
    if (changes.none) return;
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i]!;
      if (!changes.hasId(ref.namespace, ref.service, ref.id)) continue;
      const target = this.deps.registry.get(ref.namespace, ref.service, ref.id);
      if (target !== seen[i]) this.authorizeEntry(grant, 'heartbeat', target ?? ref, `instances[${i}]`);
    }
  }

  /**
   * Authorizes every entry of a batch (as a whole: before anything is written), a step per
   * entry run in slices: a token's scope check costs a few µs (its address lists), and 4,000
   * entries checked in one go held the event loop 40-100 ms. Returns what each check read from
   * the registry, for `recheckBatch`.
   */
  private *authorizeBatch(grant: AuthToken, register: readonly Instance[], deregister: readonly InstanceRef[]): Steps<BatchSeen> {
    const seen: BatchSeen = { register: [], deregister: [] };
    for (let i = 0; i < register.length; i++) {
      const instance = register[i]!;
      const state = this.registeringState(instance);
      this.authorizeRegistering(grant, instance, state, i);
      seen.register.push(state);
      yield;
    }
    for (let i = 0; i < deregister.length; i++) {
      const ref = deregister[i]!;
      const target = this.deps.registry.get(ref.namespace, ref.service, ref.id);
      this.authorizeEntry(grant, 'deregister', target ?? ref, `deregister[${i}]`);
      seen.deregister.push(target);
      yield;
    }
    return seen;
  }

  /**
   * In the turn a batch is written: checks again each entry whose instance or address holder
   * changed while the checks ran in slices (another call registered or removed it meanwhile),
   * so none is written on a check of a registry that is gone; only those are looked up again
   * (4,000 lookups in one turn held the loop several ms). Returns the entries not registered
   * yet, with their index, and the instances the batch removes (displaced or deregistered, and
   * not registered by it): the token's quota counts the first against it, the others for it.
   */
  private recheckBatch(grant: AuthToken, register: readonly Instance[], deregister: readonly InstanceRef[], seen: BatchSeen, changes: ChangedInstances): { fresh: Array<{ instance: Instance; i: number }>; removing: Instance[] } {
    const fresh: Array<{ instance: Instance; i: number }> = [];
    const removed = new Map<string, Instance>();
    for (let i = 0; i < register.length; i++) {
      const instance = register[i]!;
      let state = seen.register[i]!;
      const { namespace, service } = instance;
      if (changes.hasId(namespace, service, instance.id) || changes.hasAddress(namespace, service, instance.host, instance.port)) {
        const now = this.registeringState(instance);
        if (now.existing !== state.existing || now.holder !== state.holder) this.authorizeRegistering(grant, instance, now, i);
        state = now;
      }
      if (!state.existing) fresh.push({ instance, i });
      if (state.holder && state.holder.id !== instance.id) removed.set(instanceKey(state.holder), state.holder);
    }
    for (let i = 0; i < deregister.length; i++) {
      const ref = deregister[i]!;
      let target = seen.deregister[i];
      if (!changes.none && changes.hasId(ref.namespace, ref.service, ref.id)) {
        const now = this.deps.registry.get(ref.namespace, ref.service, ref.id);
        if (now !== target) this.authorizeEntry(grant, 'deregister', now ?? ref, `deregister[${i}]`);
        target = now;
      }
      if (target) removed.set(instanceKey(target), target);
    }
    for (const instance of register) removed.delete(instanceKey(instance)); // moved, not removed
    return { fresh, removing: [...removed.values()] };
  }

  /** What a registration's checks depend on in the registry: the instance it replaces, and the one holding its address. */
  private registeringState(instance: Instance): RegisteringState {
    return {
      existing: this.deps.registry.get(instance.namespace, instance.service, instance.id),
      holder: this.deps.registry.at(instance.namespace, instance.service, instance.host, instance.port),
    };
  }

  private authorizeRegistering(grant: AuthToken, instance: Instance, state: RegisteringState, i: number): void {
    this.authorizeEntry(grant, 'register', instance, `register[${i}]`);
    if (state.existing) this.authorizeEntry(grant, 'replace', state.existing, `register[${i}]`);
    this.authorizeDisplacing(grant, instance, state.holder, `register[${i}]: `);
  }

  private authorizeEntry(grant: ReturnType<AdminAuth['registrant']>, verb: string, target: Parameters<AdminAuth['authorize']>[2], at: string): void {
    try {
      this.deps.auth.authorize(grant, verb, target);
    } catch (error) {
      if (error instanceof HttpError) throw new HttpError(error.status, `${at}: ${error.message}; nothing was changed`);
      throw error;
    }
  }

  /**
   * A registration at another instance's address removes that one (one process per address),
   * so the token must cover it as if it deregistered it: otherwise a token scoped to user A
   * could remove user B's container by registering at its address, and get B's container.
   * 409, not 403: the address frees when that instance deregisters or expires (an agent retries).
   */
  private authorizeDisplacing(grant: AuthToken | undefined, instance: Instance, holder: Instance | undefined, at: string): void {
    if (!grant || !holder || holder.id === instance.id) return;
    const reason = this.deps.auth.refusal(grant, holder);
    if (reason) {
      throw new HttpError(409, `${at}address ${instance.host}:${instance.port} is held by instance ${holder.id} (${reason}), which this token may not displace; it frees when that instance deregisters or expires${at && '; nothing was changed'}`);
    }
  }

  /**
   * Checks a call's new instances against the token's `maxInstances`, net of the instances it
   * removes (displaced at an address or deregistered, all within the token's scope, as their
   * checks required), and reserves them. An instance a call on its way registers counts while
   * the registry does not hold it, whichever of several such calls fails or lands first, and
   * whatever removed it meanwhile (a DELETE: the write brings it back). A removal counts only
   * while no other call of the token on its way registers that instance (it may move away first,
   * and then nothing is removed), and for one call only; an instance another call counts on
   * removing counts as added when this one registers it. Calls on their way add to the count,
   * never take from it, so concurrent ones cannot overshoot. `where(k)` names the k-th new
   * instance in a refusal.
   */
  private reserveQuota(grant: AuthToken | undefined, call: { adding: readonly string[]; registering: readonly Instance[]; removing: readonly Instance[] }, where: (k: number) => string): () => void {
    if (grant?.maxInstances === undefined) return () => {};
    const pending = this.pending.get(grant) ?? { registering: new Map<string, { instance: Instance; calls: number }>(), removing: new Set<string>() };
    this.pending.set(grant, pending);
    const adding = [...new Set(call.adding)].filter((key) => !pending.registering.has(key));
    const registering = call.registering.map(instanceKey);
    const kept = registering.filter((key) => pending.removing.has(key)).length;
    const removing = [...new Set(call.removing.map(instanceKey))].filter((key) => !pending.removing.has(key) && !pending.registering.has(key));
    // One count for the whole call: counting per entry scanned the registry once per batch entry (45 s for 2,000).
    const registered = this.quotaCounts.registered(grant) + this.landingAnew(pending.registering);
    const over = this.deps.auth.quotaOverflow(grant, registered, adding.length + kept, removing.length);
    if (over) {
      const at = over.first < adding.length ? where(call.adding.indexOf(adding[over.first]!)) : '';
      throw new HttpError(403, at ? `${at}${over.message}; nothing was changed` : over.message);
    }
    call.registering.forEach((instance, i) => {
      const entry = pending.registering.get(registering[i]!);
      if (entry) entry.calls++;
      else pending.registering.set(registering[i]!, { instance, calls: 1 });
    });
    for (const key of removing) pending.removing.add(key);
    return () => {
      for (const key of registering) {
        const entry = pending.registering.get(key)!;
        if (--entry.calls === 0) pending.registering.delete(key);
      }
      for (const key of removing) pending.removing.delete(key);
    };
  }

  /** Of the instances calls on their way register, those the registry does not hold: each adds one when its write lands. */
  private landingAnew(registering: ReadonlyMap<string, { instance: Instance }>): number {
    let count = 0;
    for (const { instance } of registering.values()) if (!this.deps.registry.get(instance.namespace, instance.service, instance.id)) count++;
    return count;
  }

  /**
   * Heartbeat and deregister: the token must cover the service, and the instance's labels when it
   * exists (checked in the turn the call acts, after its body was read).
   */
  private authorizeExisting(grant: AuthToken | undefined, verb: string, namespace: string, service: string, id: string): void {
    this.deps.auth.authorize(grant, verb, this.deps.registry.get(namespace, service, id) ?? { namespace, service });
  }

  private async configDump(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    knownParams(url.searchParams, ['resource', 'name']);
    const resource = url.searchParams.get('resource');
    if (resource === null) {
      send(res, 200, serialize.dump(redactSecrets(await this.deps.configDump())));
      return;
    }
    const name = url.searchParams.get('name');
    if (!name) throw new HttpError(400, 'name is required with resource');
    if (!Object.hasOwn(XDS_SECTIONS, resource)) throw new HttpError(400, `resource must be one of ${Object.keys(XDS_SECTIONS).join(', ')}, got ${JSON.stringify(resource)}`);
    if (req.method === 'HEAD') {
      // What a GET would answer, without building and converting what may be megabytes of JSON.
      if (!this.deps.xdsServes(resource, name)) throw notServed(resource, name);
      res.writeHead(200, { 'content-type': 'application/json' }).end();
      return;
    }
    const found = await this.deps.xdsResource(resource, name);
    if (!found) throw notServed(resource, name);
    // The shape of SCHEMAS.XdsResource around the resource's text, written chunk by chunk as the client reads.
    const head = `{"type_url":${JSON.stringify(found.type_url)},"name":${JSON.stringify(name)},"version":${JSON.stringify(found.version)},"resource":`;
    await sendChunks(res, [head, ...found.resourceJson, '}']);
  }

  private service(namespace: string, name: string) {
    const view = this.deps.registry.snapshot().services.get(serviceKey(namespace, name));
    if (!view) throw new HttpError(404, `no registered service ${namespace}/${name}`);
    return view;
  }

  private overview(): string {
    const { deps } = this;
    const last = deps.rules.lastReload;
    return serialize.overview({
      version: VERSION,
      phase: deps.phase(),
      store: deps.store,
      rules: {
        version: deps.rules.snapshot.version,
        origin: deps.rules.document.origin,
        ...ruleCounts(deps.rules.snapshot),
        ...(last && { lastReload: { ok: last.ok, at: new Date(last.at).toISOString() } }),
      },
      proxies: deps.proxies().length,
      services: serviceSummaries(deps.registry),
    });
  }

  private listInstances(res: http.ServerResponse, url: URL): Promise<void> {
    knownParams(url.searchParams, ['service', 'namespace']);
    // `?service=$SVC` with the variable unset would list every instance of every service.
    for (const [name, value] of url.searchParams) if (value === '') throw new HttpError(400, `${name}: empty; leave the parameter out to list every ${name}`);
    return sendChunks(res, instanceListChunks(this.deps.registry, url.searchParams.get('service'), url.searchParams.get('namespace')));
  }
}

/** A router config as an entity tag (GET /v1/routers gives it per router): equal configs, equal tags. */
function configTag(config: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(config ?? null)).digest('base64url').slice(0, 16)}"`;
}

/** An editor that read one config replaces that one only: a change made since would be undone unseen (412). */
function checkConfigTag(ifMatch: string | undefined, name: string, current: unknown): void {
  if (ifMatch === undefined || ifMatch.trim() === '*' || ifMatch.trim() === configTag(current)) return;
  throw new HttpError(412, `router ${name}'s config changed since it was read (If-Match ${JSON.stringify(ifMatch.slice(0, 40))}, now ${configTag(current)}): nothing was changed; read it and try again`);
}

/** `If-Match: "N"` (GET /v1/rules's ETag) as N; `*` or no header, undefined. */
function ifMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const tag = /^\s*"(\d{1,15})"\s*$/.exec(header);
  if (!tag) throw new HttpError(400, `If-Match must be the rules' version as GET /v1/rules's ETag gives it ("3"), got ${JSON.stringify(header.slice(0, 40))}`);
  return Number(tag[1]);
}

/**
 * An empty document is a valid empty rule set, but an empty body is nearly always a mistake
 * (curl sends one when its `@file` is missing) that would delete every rule on every replica.
 */
const BLANK_RULES = 'the rule document is empty (no body, or only whitespace): refused, since it would delete every rule; to clear the rules on purpose, send `rules: []`';

function isBlank(text: string): boolean {
  return text.trim() === '';
}

function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in the path: ${part}`);
  }
}

function notServed(resource: string, name: string): HttpError {
  return new HttpError(404, `no ${resource} resource named ${JSON.stringify(name)} is served`);
}

function instanceKey(instance: { namespace: string; service: string; id: string }): string {
  return `${instance.namespace}/${instance.service}/${instance.id}`;
}

