import type { RequestContext } from '../context/request-context';
import { mergeLabels } from './labels';
import { PERSIST_PREFIX, metadataHeader } from '../context/propagation';
import type { RouteInput, RouteResult, Router } from './router';
import { ConfigReader, LabelCache, restrict } from './router-kit';

/** The request header that asks for a canary; `rpc-persist-<key>` asks for the whole chain. */
export const CANARY_HEADER = 'x-metaroute-canary';

interface CanaryConfig {
  readonly enabled: boolean;
  readonly labels: LabelCache;
  readonly persistHeader: string;
}

const FIELDS = ['enabled', 'key'];

/**
 * Canary releases: instances labelled `<key>=<value>` serve only requests that ask for
 * that canary (`x-metaroute-canary: <value>`, or the transitive `rpc-persist-<key>`).
 * Such a request goes to those instances while one is healthy, else to the instances
 * without the key; every other request goes only to instances without the key. A service
 * with no canary instance gets no opinion, so its decisions stay as they were.
 */
export class CanaryRouter implements Router {
  readonly name = 'canary';
  readonly order = 500;
  private config: CanaryConfig = parse({});

  configure(config: unknown): void {
    this.config = parse(config);
  }

  labelKeys(): readonly string[] {
    return this.config.enabled ? [this.config.labels.key] : [];
  }

  route(ctx: RequestContext, input: RouteInput): RouteResult {
    const c = this.config;
    if (!c.enabled) return undefined;
    const { service } = input;
    const key = c.labels.key;
    // An earlier router chose this key explicitly (a rule sending staff to canary=v2): keep it.
    if (input.labels[key] !== undefined) return undefined;
    if (service.subset(c.labels.without).instances.length === service.instances.length) return undefined;

    const wanted = ctx.header(CANARY_HEADER) || ctx.header(c.persistHeader);
    if (wanted) {
      const added = c.labels.of(wanted);
      const labels = mergeLabels(input.labels, added);
      const candidates = restrict(input, labels, added);
      if (candidates.healthy > 0) return { kind: 'narrow', candidates, labels, note: 'canary' };
    }
    const labels = mergeLabels(input.labels, c.labels.without);
    const candidates = restrict(input, labels, c.labels.without);
    // Everything still in play is a canary: the earlier choice stands rather than nothing.
    if (candidates.instances.length === 0) return undefined;
    return { kind: 'narrow', candidates, labels, note: wanted ? 'canary has no healthy instance: stable' : 'stable' };
  }
}

function parse(config: unknown): CanaryConfig {
  const r = new ConfigReader('canary', config, FIELDS);
  const key = r.labelKey('key', 'canary');
  return { enabled: r.boolean('enabled', false), labels: new LabelCache(key), persistHeader: metadataHeader(PERSIST_PREFIX, key) };
}
