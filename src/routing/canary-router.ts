import type { RequestContext } from '../context/request-context';
import { persistentValue } from '../context/propagation';
import type { RouteInput, RouteResult, Router } from './router';
import { ALL_TAGGED, checkOwnLabelKey, ConfigReader, LabelCache, routeTagged } from './router-kit';

/** The request header that asks for a canary by default; `rpc-persist-<key>` asks for the whole chain. */
export const CANARY_HEADER = 'x-metaroute-canary';

interface CanaryConfig {
  readonly enabled: boolean;
  readonly labels: LabelCache;
  /** The header a request asks with (at an edge gateway a client may send it only if it is not protected). */
  readonly header: string;
}

const FIELDS = ['enabled', 'key', 'header'];
const NOTES = { tagged: 'canary', untagged: 'stable' };

/**
 * Canary releases: instances labelled `<key>=<value>` serve only requests that ask for
 * that canary (`x-metaroute-canary: <value>` or the configured `header`, or the transitive
 * `rpc-persist-<key>` in any of its spellings).
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

  checkNew(config: unknown): void {
    checkOwnLabelKey('canary', config, 'canary');
  }

  labelKeys(): readonly string[] {
    return this.config.enabled ? this.config.labels.keys : [];
  }

  route(ctx: RequestContext, input: RouteInput): RouteResult {
    const c = this.config;
    if (!c.enabled) return undefined;
    const result = routeTagged(input, c.labels, ctx.header(c.header) || persistentValue(ctx.headers, c.labels.keys[0]!), NOTES);
    // Everything still in play is a canary: the earlier choice stands rather than nothing.
    return result === ALL_TAGGED ? undefined : result;
  }
}

function parse(config: unknown): CanaryConfig {
  const r = new ConfigReader('canary', config, FIELDS);
  const key = r.labelKey('key', 'canary');
  return { enabled: r.boolean('enabled', false), labels: new LabelCache([key]), header: r.headerName('header', CANARY_HEADER) };
}
