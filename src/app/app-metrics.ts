import type { MetricsRegistry } from '../metrics/metrics';
import { VERSION } from '../model/build-info';
import type { Registry } from '../registry/registry';
import type { Store } from '../store/store';
import type { RulesSource } from './rules-source';

/** ext_proc servers: `workers` of them configured (1: in process), and how many answer now. */
export interface ExtProcServers {
  readonly configured: number;
  serving(): number;
}

/** Gauges read from live state at each scrape: build, instances per service and health, rules, ext_proc servers. */
export function registerAppMetrics(metrics: MetricsRegistry, registry: Registry, rules: RulesSource, extProc: ExtProcServers, store: Store): void {
  metrics.gauge('metaroute_build_info', 'metaroute build: always 1, with the version and Node.js version as labels', ['version', 'node_version']).set(1, [VERSION, process.version]);
  const instances = metrics.gauge('metaroute_instances', 'Registered instances by service and health (healthy: taking traffic; unhealthy: registered unhealthy, or drained to weight 0)', ['namespace', 'service', 'health']);
  const rulesVersion = metrics.gauge('metaroute_rules_version', 'Version of the live rule document (counts rule documents; 0 before any)');
  const reloadOk = metrics.gauge(
    'metaroute_rules_last_reload_success',
    'Whether the rules from the rules file and the store are in force (1), or older ones serve (0): a rules-file edit refused or not stored yet, or a stored document refused. A refused PUT /v1/rules changes nothing and is not counted here (metaroute_rules_api_refused_total)',
  );
  const reloadAt = metrics.gauge('metaroute_rules_last_reload_timestamp_seconds', 'When the rules from the rules file or the store were last applied or failed to be');
  const servers = metrics.gauge('metaroute_extproc_servers', 'ext_proc servers: configured (workers, 1 in process) and serving now', ['state']);
  servers.set(extProc.configured, ['configured']);
  const storeAvailable = metrics.gauge('metaroute_store_available', 'Whether the store takes writes now (0 while etcd is unreachable or refuses writes: registrations and rule updates answer 503)');
  metrics.onCollect(() => {
    storeAvailable.set(store.available() ? 1 : 0);
    instances.reset();
    for (const view of registry.snapshot().services.values()) {
      // The registry keeps a service's view after its last instance left: series of services long gone would pile up.
      if (view.instances.length === 0) continue;
      // Counted by the view as instances change: a scrape walks services, not instances (100,000 of them held the loop ~5 ms).
      instances.set(view.healthy, [view.namespace, view.name, 'healthy']);
      instances.set(view.instances.length - view.healthy, [view.namespace, view.name, 'unhealthy']);
    }
    servers.set(extProc.serving(), ['serving']);
    rulesVersion.set(rules.snapshot.version);
    const last = rules.lastReload;
    if (last) {
      reloadOk.set(last.ok ? 1 : 0);
      reloadAt.set(last.at / 1000);
    }
  });
}
