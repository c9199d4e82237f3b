import { persistentValue } from '../context/propagation';
import type { RequestContext } from '../context/request-context';
import { DEFAULT_NAMESPACE, NAMESPACE_NAME, SERVICE_NAME, serviceKey } from '../model/instance';
import type { RouteInput, RouteResult, Router } from './router';
import { ALL_TAGGED, checkOwnLabelKey, ConfigReader, LabelCache, routeTagged } from './router-kit';

interface LaneConfig {
  readonly enabled: boolean;
  readonly labels: LabelCache;
  /** `rpc-persist-<key>` in metainfo wire form (lower case, `-`). */
  /** serviceKeys (`namespace/name`) the router applies to; undefined = every service. */
  readonly services: ReadonlySet<string> | undefined;
  readonly strict: boolean;
}

const FIELDS = ['enabled', 'key', 'services', 'strict'];
const NOTES = { tagged: 'lane', untagged: 'baseline' };
const REJECT_NO_BASELINE: RouteResult = {
  kind: 'final',
  decision: { kind: 'reject', status: 503, body: "no baseline instance (each instance of the service is in a lane), and the request's lane, if any, has no healthy one" },
  note: 'lane: no lane or baseline instance, strict',
};

/**
 * Feature environments (Spring Cloud Tencent lanes): instances labelled `<key>=<lane>`
 * serve that lane's traffic; instances without the key are the baseline. A request's lane
 * is the transitive header `rpc-persist-<key>` (or SCT's and Polaris's `X-SCT-Metadata-Transitive-<key>` /
 * `X-Polaris-Metadata-Transitive-<key>` / `SCT-CUSTOM-METADATA`), else the caller's own `<key>`
 * label; never a one-hop value (`rpc-transit-*`, SCT-CUSTOM-DISPOSABLE-METADATA: SCT's routers
 * too take labels from whole-chain metadata only). Lane
 * traffic goes to the callee's lane when it has a healthy instance there, else to the
 * baseline; traffic without a lane only ever reaches the baseline. A service with no lane
 * instance at all gets no opinion: all of it is baseline, and its decision stays as plain
 * as it was.
 */
export class LaneRouter implements Router {
  readonly name = 'lane';
  readonly order = 100;
  private config: LaneConfig = parse({});

  configure(config: unknown): void {
    this.config = parse(config);
  }

  /** A pushed config's service names must be ones registration takes: `name` or `namespace/name`. */
  checkNew(config: unknown): void {
    checkOwnLabelKey('lane', config, 'env');
    const services = (config as Record<string, unknown>).services;
    if (!Array.isArray(services)) return;
    services.forEach((s: unknown, i) => {
      const [namespace, name, more] = typeof s === 'string' ? (s.includes('/') ? s.split('/') : [DEFAULT_NAMESPACE, s]) : [];
      if (more !== undefined || !NAMESPACE_NAME.test(namespace ?? '') || !SERVICE_NAME.test(name ?? '')) {
        throw new Error(`lane.services[${i}]: ${JSON.stringify(s)} can never match: a service is name or namespace/name as registration takes them (no '.' in a namespace)`);
      }
    });
  }

  labelKeys(): readonly string[] {
    return this.config.enabled ? this.config.labels.keys : [];
  }

  route(ctx: RequestContext, input: RouteInput): RouteResult {
    const c = this.config;
    if (!c.enabled) return undefined;
    if (c.services && !c.services.has(input.service.key)) return undefined;
    const key = c.labels.keys[0]!;
    const result = routeTagged(input, c.labels, persistentValue(ctx.headers, key) || ctx.caller.labels[key], NOTES);
    if (result !== ALL_TAGGED) return result;
    return c.strict ? REJECT_NO_BASELINE : undefined;
  }
}

function parse(config: unknown): LaneConfig {
  const r = new ConfigReader('lane', config, FIELDS);
  const key = r.labelKey('key', 'env');
  const services = r.stringList('services');
  return {
    enabled: r.boolean('enabled', false),
    labels: new LabelCache([key]),
    // A bare name means the default namespace, like a bare :authority.
    services: services && new Set(services.map((s) => (s.includes('/') ? s : serviceKey(DEFAULT_NAMESPACE, s)))),
    strict: r.boolean('strict', false),
  };
}
