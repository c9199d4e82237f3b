import * as grpc from '@grpc/grpc-js';
import { AdminAuth, isLoopback } from '../admin/auth';
import { xdsClientsProblem } from '../config/grpc-security';
import { DecisionSplit, sumSplits } from '../metrics/decision-split';
import { MetricsRegistry } from '../metrics/metrics';
import { AdminServer } from '../admin/server';
import type { ServerConfig } from '../config/config';
import { JwtVerifier } from '../context/identity';
import type { Logger } from '../log/logger';
import { LineThrottle, MAX_THROTTLED_KEYS } from '../log/throttle';
import { Readiness, registerHealth } from '../extproc/health';
import { EXT_PROC_SERVICE_NAME, ExtProcService, type MetadataRefusal } from '../extproc/service';
import { WARM_UP_LIMIT_MS, warmUpExtProc } from '../extproc/warm-up';
import { yieldTurn } from '../model/slices';
import { Registry } from '../registry/registry';
import { INSTANCES_PREFIX, RegistryStoreSync } from '../registry/store-sync';
import { RoutingEngine } from '../routing/engine';
import { CanaryRouter } from '../routing/canary-router';
import { LaneRouter } from '../routing/lane-router';
import { MetadataRouter } from '../routing/metadata-router';
import { NearbyRouter } from '../routing/nearby-router';
import { RecoverRouter } from '../routing/recover-router';
import { loadRouterModule } from '../routing/plugins';
import type { Router } from '../routing/router';
import { RuleRouter } from '../routing/rule-router';
import { registerAppMetrics } from './app-metrics';
import { RulesChecker } from './rules-checker';
import { RULES_KEY, RulesSource } from './rules-source';
import { EmbeddedStore } from '../store/embedded';
import { EtcdStore } from '../store/etcd';
import type { Store } from '../store/store';
import { NONE_HELD, subsetPolicy, XDS_SERVICE_NAMES, XdsServer } from '../xds';
import { DrainWindow } from './drain';
import { bindGrpc, shutdownGrpc } from './grpc-server';
import { extProcClientCheck, serverCredentials, xdsClientCheck } from './grpc-security';
import { CertificateFiles } from '../tls/certificate-files';
import { ROUTERS_PREFIX, RouterConfigs } from './router-configs';
import { SelectorRollout, type RolloutPlan } from './rollout';
import { ExtProcWorkers } from './workers';

/** gRPC limits: ext_proc frames carry headers only, so 4 MiB is generous; Envoy's own header cap is 60 KiB by default. */
const GRPC_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.max_concurrent_streams': 4096,
  // channelz bookkeeping costs time on every call and metaroute exposes its own metrics.
  'grpc.enable_channelz': 0,
};

export interface BoundPorts {
  readonly extProc: number;
  readonly xds: number;
  readonly admin: number;
}

/**
 * The composition root of `metaroute serve`: store, registry, rules, router chain, and
 * the three listeners (ext_proc gRPC, xDS gRPC, admin HTTP).
 */
export class App {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly ports: BoundPorts,
    readonly registry: Registry,
    readonly engine: RoutingEngine,
    /** What stop() releases, in the order it was acquired. */
    private readonly releases: Array<() => unknown>,
    private readonly drain: DrainWindow,
  ) {}

  static async start(config: ServerConfig, log: Logger): Promise<App> {
    const releases: Array<() => unknown> = [];
    try {
      return await App.assemble(config, log, releases);
    } catch (error) {
      await release(releases); // a failed start gives back what it had opened
      throw error;
    }
  }

  /**
   * Reports NOT_SERVING, keeps answering for the configured drain window, then closes. A
   * second call ends the drain window at once and resolves with the first.
   */
  stop(): Promise<void> {
    if (this.stopping) this.drain.cut();
    this.stopping ??= release(this.releases);
    return this.stopping;
  }

  private static async assemble(config: ServerConfig, log: Logger, releases: Array<() => unknown>): Promise<App> {
    // loadConfig refuses this already; a config built by hand is stopped here, before anything opens.
    const xdsProblem = xdsClientsProblem(config.host, isLoopback(config.host), config.xds.tls, config.xds.clients);
    if (xdsProblem) throw new Error(xdsProblem);
    // TLS files are read before anything opens too: unusable ones stop the start with nothing
    // written to the store and no warm-up spent. With workers this checks the ext_proc files,
    // which each worker reads again.
    const extProcCredentials = serverCredentials(config.extProc.tls, 'extProc', log);
    const xdsCredentials = serverCredentials(config.xds.tls, 'xds', log);
    const metrics = new MetricsRegistry();
    const store: Store = config.store.kind === 'etcd' ? await EtcdStore.open(config.store, log, [INSTANCES_PREFIX, RULES_KEY, ROUTERS_PREFIX]) : await EmbeddedStore.open(config.dataDir, { log });
    releases.push(() => store.close());
    // With workers, they serve ext_proc (same port) and this process keeps the store, xDS and admin.
    const workers = config.workers > 1 ? new ExtProcWorkers(store, config.workers, log) : undefined;
    // Changes that need other subset selectors reach ext_proc only after Envoy has them
    // (before xDS exists, no Envoy can be connected: such a change applies at once). Workers
    // switch when this process does.
    let rollout: SelectorRollout | undefined;
    const { registry, sync, rules, routerConfigs, routerKeys, servedRules, engine } = await routingSide(config, store, log, releases, {
      rulesFile: config.rulesFile,
      metrics,
      rollout: (what, plan) => {
        const planAndTell = (): RolloutPlan => {
          const planned = plan();
          return {
            ...planned,
            switchOver: async () => {
              planned.switchOver();
              await workers?.switched(what);
            },
          };
        };
        if (rollout) return rollout.apply(what, planAndTell);
        return Promise.resolve(planAndTell().switchOver());
      },
    });
    const extProcServers = (): number => (workers ? workers.serving : 1);
    registerAppMetrics(metrics, registry, rules, { configured: config.workers, serving: extProcServers }, store);

    const readiness = new Readiness();
    const drain = new DrainWindow(config.drainSeconds * 1000);
    const decideOptions = decideOptionsOf(config);
    // Counted where ext_proc decides: in this process, or in the workers, whose splits and metrics it sums when asked.
    const split = workers ? undefined : new DecisionSplit();
    if (split) releases.push(() => split.close());
    const extProcServer = workers ? undefined : createExtProcServer(config, engine, metrics, readiness, log, split);

    const xds = new XdsServer(
      {
        registry: () => registry.snapshot(),
        rules: servedRules,
        routerKeys,
        heldSelectors: () => rollout?.heldSelectors() ?? NONE_HELD,
        subscribe: (listener) => {
          const offs = [registry.onChange((changed) => listener(changed)), rules.onChange(() => listener('all')), routerConfigs.onChange(() => listener('all'))];
          return () => offs.forEach((off) => off());
        },
      },
      { debounceMs: config.xds.debounceMs, maxDebounceMs: config.xds.maxDebounceMs, metrics, log },
    );
    rules.prepareWith((next) => xds.preparePolicies([{ rules: next, routerKeys: routerKeys() }]));
    rollout = new SelectorRollout(
      xds,
      config.xds.rolloutWaitMs,
      metrics.counter('metaroute_rollout_timeouts_total', 'Rollouts that switched ext_proc before every Envoy ACKed the new subset selectors'),
      log,
    );
    const xdsRefused = metrics.counter('metaroute_xds_refused_total', 'xDS calls refused by the client identity check (no or an unlisted client certificate or token)');
    const clientCheck = xdsClientCheck(config.xds.clients, config.xds.tls, (refusal) => {
      xdsRefused.inc();
      log.warn({ event: 'xds.refused', ...refusal }, 'xds: a client without an accepted identity was refused (UNAUTHENTICATED)');
    });
    const xdsServer = new grpc.Server({ ...GRPC_OPTIONS, interceptors: clientCheck ? [clientCheck] : [] });
    xds.register(xdsServer);
    registerHealth(xdsServer, readiness, XDS_SERVICE_NAMES);

    const admin = new AdminServer({
      metrics,
      ...(workers && { extProcMetrics: () => workers.metrics() }),
      registry,
      sync,
      ttlSeconds: config.registry.ttlSeconds,
      rules,
      engine,
      decideOptions,
      auth: new AdminAuth(config.auth, config.host),
      log,
      tls: config.admin.tls && new CertificateFiles(config.admin.tls, 'admin', log),
      phase: () => readiness.phase,
      extProcServers,
      xdsResource: (section, name) => xds.resource(section, name),
      xdsServes: (section, name) => xds.serves(section, name),
      pushRouterConfig: (name, routerConfig) => routerConfigs.push(name, routerConfig),
      withdrawRouterConfig: (name) => routerConfigs.withdraw(name),
      hasRouter: (name) => routerConfigs.has(name),
      configDump: async () => ({
        config,
        rules: { version: rules.snapshot.version, origin: rules.document.origin, document: rules.snapshot.source },
        routers: routerConfigs.dump(),
        registry: { version: registry.snapshot().version, services: [...registry.snapshot().services.values()].map((v) => ({ service: v.key, cluster: v.cluster, version: v.version, instances: v.instances.length, healthy: v.healthy })) },
        xds: xds.configDump(),
        ...(workers && { workers: await workers.stats() }),
      }),
      split: (key) => (workers ? workers.splits(key).then(sumSplits) : split!.read(key)),
      selectors: (key) => subsetPolicy(servedRules(), key, routerKeys()).selectors,
      proxies: () => xds.streamsDump(),
      routerConfigs: () => routerConfigs.dump(),
      store: config.store.kind === 'etcd' ? { kind: 'etcd', where: config.store.endpoints.join(',') } : { kind: 'embedded', where: config.dataDir },
    });

    releases.push(() => {
      readiness.set('stopping'); // health watchers' streams end
      xds.close();
      return Promise.all([admin.close(), extProcServer && shutdownGrpc(extProcServer), workers?.stop(), shutdownGrpc(xdsServer)]);
    });
    // Done before the workers list their snapshot: of two records at one address a worker cannot
    // tell which was written last (its mirror has no write order), so it must not see the one that
    // lost. Nothing else waits for it (with etcd slow, binding the ports would).
    const dropped = sync.dropAtLoad();
    if (extProcServer) await warmUp(config, engine, log);
    const ports: BoundPorts = {
      extProc: extProcServer ? await bindGrpc(extProcServer, config.host, config.ports.extProc, extProcCredentials) : await dropped.then(() => workers!.start()),
      xds: await bindGrpc(xdsServer, config.host, config.ports.xds, xdsCredentials),
      admin: await admin.listen(config.ports.admin, config.host),
    };
    if (workers) readiness.onChange((phase) => workers.setPhase(phase));
    // Each pass handles a bounded number; while deadlines have passed, another runs a turn later.
    let expiring = false;
    const expire = async (): Promise<void> => {
      if (expiring) return;
      expiring = true;
      try {
        do {
          await sync.expire();
          await yieldTurn();
        } while (registry.hasExpired());
      } catch (error) {
        log.error({ event: 'store.failed', err: error }, 'expiry failed');
      } finally {
        expiring = false;
      }
    };
    await dropped;
    const expiryTimer = setInterval(() => void expire(), 1000);
    expiryTimer.unref();
    releases.push(() => clearInterval(expiryTimer));
    // Released first: everything still runs while the drain window lasts. A failed start never gets here, so never drains.
    releases.push(() => {
      readiness.set('draining');
      return drain.wait();
    });
    readiness.set('serving');
    return new App(ports, registry, engine, releases, drain);
  }
}

/** How a change that needs other subset selectors reaches ext_proc (SelectorRollout.apply's shape). */
export type Rollout = (what: string, plan: () => RolloutPlan) => Promise<void>;

/**
 * The routing side, fed from `store`: registry (plus the config file's static instances),
 * rules, router configs and the engine, which swaps in registry changes once per turn. The
 * primary passes the rules file and stages rule and router-config changes through `rollout`
 * (make-before-break through xDS); an ext_proc worker's `rollout` waits for the primary's.
 */
export async function routingSide(
  config: ServerConfig,
  store: Store,
  log: Logger,
  releases: Array<() => unknown>,
  /** `worker`: an ext_proc worker's routing side, over the primary's store mirror (it writes nothing). */
  options: { readonly rulesFile: string | undefined; readonly rollout?: Rollout; readonly worker?: boolean; readonly metrics?: MetricsRegistry },
) {
  const registry = new Registry(undefined, { expires: !options.worker });
  const takeovers = store.leases && options.metrics?.counter('metaroute_liveness_takeovers_total', "Ephemeral instances whose heartbeats reached this replica while another one (or none) held them: each a write to etcd. Rising steadily, agents' heartbeats are spread over replicas call by call");
  const sync = new RegistryStoreSync(store, registry, log, config.registry.ttlSeconds, !options.worker, config.registry.instances, takeovers && ((count) => takeovers.inc([], count)));
  await sync.start();
  releases.push(() => sync.stop());
  const checker = new RulesChecker();
  releases.push(() => checker.close());
  await checker.warm();
  const rules = new RulesSource(store, checker, log);
  releases.push(() => rules.stop());
  await rules.start(options.rulesFile);

  const engine = new RoutingEngine({ registry: registry.snapshot(), rules: rules.snapshot });
  const fileConfigs = new Map<string, unknown>();
  const custom: Router[] = [];
  for (const entry of config.routers) {
    const router = entry.module ? loadRouterModule(entry.module) : undefined;
    if (router) custom.push(router);
    fileConfigs.set(router?.name ?? entry.name!, entry.config);
  }
  const routers: Router[] = [new LaneRouter(), new RuleRouter(), new MetadataRouter(), new NearbyRouter(), new CanaryRouter(), new RecoverRouter(), ...custom];
  const routerKeys = (): string[] => routers.flatMap((r) => r.labelKeys?.() ?? []);
  const rollout: Rollout = options.rollout ?? (async (_what, plan) => plan().switchOver());
  // The rules ext_proc decides with: a new rule set becomes these once its rollout is done.
  let servedRules = rules.snapshot;
  const routerConfigs = new RouterConfigs(
    store,
    routers,
    (what, keysAfter, switchOver) => rollout(what, () => ({ before: { rules: servedRules, routerKeys: routerKeys() }, after: { rules: servedRules, routerKeys: keysAfter() }, switchOver })),
    log,
  );
  const { overridden, refusedStored } = await routerConfigs.start(fileConfigs);
  releases.push(() => routerConfigs.stop());
  if (!options.worker) {
    for (const router of overridden) {
      log.warn({ event: 'router.config.overridden', router }, `router ${router}: the config pushed through the API (stored) is used, not the configuration file's`);
    }
    for (const { router, error } of refusedStored) {
      log.error({ event: 'router.config.refused', router, source: 'store', err: error }, `router ${router} refuses its stored config (pushed through the API): the configuration file's is used until a new push or its withdrawal`);
    }
  }
  engine.setRouters(routers);

  // The registry changes in place; the engine re-reads it once per turn after changes.
  let swapPending = false;
  const swap = () => {
    swapPending = false;
    engine.swap({ registry: registry.snapshot(), rules: servedRules });
  };
  registry.onChange(() => {
    if (!swapPending) {
      swapPending = true;
      setImmediate(swap);
    }
  });
  rules.onChange(() => {
    // Each version rolls out as itself, in order: "rules v5" means the same rules in the
    // primary and in every worker, which switch when the primary's rollout of it does.
    const next = rules.snapshot;
    void rollout(`rules v${next.version}`, () => ({
      before: { rules: servedRules, routerKeys: routerKeys() },
      after: { rules: next, routerKeys: routerKeys() },
      switchOver: () => {
        servedRules = next;
        swap();
      },
    }));
  });
  return { registry, sync, rules, routerConfigs, routers, routerKeys, servedRules: () => servedRules, engine };
}

export function decideOptionsOf(config: ServerConfig) {
  const { maxHeaderBytes, maxHeadersCount, maxMetadataBytes, identity, edge, outboundRouterFailure } = config.extProc;
  const jwt = identity.jwt ? new JwtVerifier(identity.jwt) : undefined;
  return { maxHeaderBytes, maxHeadersCount, maxMetadataBytes, identity, jwt, edge, outboundRouterFailure };
}

/** Warms the ext_proc path before its listener binds (`extproc/warm-up.ts`); a failure is logged, never fatal. */
export async function warmUp(config: ServerConfig, engine: RoutingEngine, log: Logger): Promise<void> {
  if (config.extProc.warmUpStreams === 0) return;
  try {
    const { streams, ms } = await warmUpExtProc(engine, decideOptionsOf(config), GRPC_OPTIONS, config.extProc.warmUpStreams);
    const cut = streams < config.extProc.warmUpStreams ? ` of ${config.extProc.warmUpStreams} (stopped at its ${WARM_UP_LIMIT_MS / 1000} s limit)` : '';
    log.info({ event: 'extproc.warm-up', streams, ms: Math.round(ms) }, `ext_proc: warmed up with ${streams} streams${cut} in ${Math.round(ms)} ms`);
  } catch (error) {
    log.warn({ event: 'extproc.warm-up', error: (error as Error).message }, `ext_proc: warm-up failed (${(error as Error).message}); serving without it`);
  }
}

/** The ext_proc gRPC server (with its health service) over `engine`; not yet bound. */
export function createExtProcServer(config: ServerConfig, engine: RoutingEngine, metrics: MetricsRegistry, readiness: Readiness, log: Logger, split?: DecisionSplit): grpc.Server {
  const admit = extProcClientCheck(config.extProc.clients, config.extProc.tls, (refusal) =>
    log.warn({ event: 'extproc.refused', ...refusal }, 'ext_proc: a client certificate without a listed name was refused; every stream on its connection ends PERMISSION_DENIED'),
  );
  const server = new ExtProcService(engine, metrics, decideOptionsOf(config), split, metadataRefusalLog(log)).createServer(GRPC_OPTIONS, admit);
  registerHealth(server, readiness, [EXT_PROC_SERVICE_NAME]);
  return server;
}

/** A bad sidecar bootstrap fails every stream of its Envoy alike: one line per caller and reason a minute, not one per request. */
const METADATA_REFUSAL_WINDOW_MS = 60_000;

/**
 * Logs ext_proc streams refused for malformed metadata. A fail-open sidecar (failure_mode_allow)
 * forwards each of their requests without routing: without this line only
 * metaroute_extproc_stream_errors_total{reason="malformed"} would show it.
 */
function metadataRefusalLog(log: Logger): (refusal: MetadataRefusal) => void {
  const throttle = new LineThrottle(METADATA_REFUSAL_WINDOW_MS);
  return ({ reason, caller, peer }) => {
    const line = throttle.pass(`${caller}\u0000${reason}`);
    if (!line) return;
    const { held: suppressed, others } = line;
    const since = others
      ? ` (one line a minute for every caller and reason past the ${MAX_THROTTLED_KEYS} with lines of their own: ${suppressed} more of theirs since the last such line)`
      : suppressed > 0 ? ` (${suppressed} more since the last such line)` : '';
    log.warn(
      { event: 'extproc.metadata.refused', reason, caller, peer, suppressed, others },
      `ext_proc: refused a stream of ${caller || peer} for malformed metadata: ${reason}; a fail-open Envoy forwards its requests without routing${since}`,
    );
  };
}

/** Releases newest first; each only once, even if stop() is called again. */
async function release(releases: Array<() => unknown>): Promise<void> {
  for (const step of releases.splice(0).reverse()) await step();
}
