import type { RequestContext } from '../context/request-context';
import { LOCALITY_LABELS, type Labels } from '../model/instance';
import type { Subset } from '../registry/service-view';
import { mergeLabels } from './labels';
import type { RouteInput, RouteResult, Router } from './router';
import { ConfigReader } from './router-kit';

/** Narrowest first; a level matches the caller's value at that level and at every wider one it knows. */
const LEVELS = ['campus', 'zone', 'region'] as const;
type Level = (typeof LEVELS)[number];
const MAX_LEVELS = [...LEVELS, 'all'] as const;
type MaxLevel = (typeof MAX_LEVELS)[number];

interface NearbyConfig {
  readonly enabled: boolean;
  /** Indexes into LEVELS: start at `from`, degrade up to `to` inclusive. */
  readonly from: number;
  readonly to: number;
  /** maxMatchLevel 'all': past the widest level, any locality will do. */
  readonly anyLocality: boolean;
  readonly strict: boolean;
  readonly healthyRatioThreshold: number;
}

const FIELDS = ['enabled', 'matchLevel', 'maxMatchLevel', 'strict', 'healthyRatioThreshold'];
const NOTES = LEVELS.map((level) => `nearby: same ${level}`);
const REJECT_NOTHING_NEARBY: RouteResult = {
  kind: 'final',
  decision: { kind: 'reject', status: 503, body: 'no instance nearby' },
  note: 'nearby: no instance within maxMatchLevel, strict',
};

/**
 * The caller's locality as labels per level (campus, zone, region): the reserved locality
 * label of that level and of every wider level the caller names (zone names need not be
 * unique across regions), or undefined where the caller lacks that level. Caller label
 * objects are shared by every stream of one sidecar, so this runs once per caller.
 */
const callerLevels = new WeakMap<Labels, readonly (Labels | undefined)[]>();

function levelsOf(caller: Labels): readonly (Labels | undefined)[] {
  let levels = callerLevels.get(caller);
  if (!levels) {
    levels = LEVELS.map((field, level) => {
      if (!caller[field]) return undefined;
      const labels: Record<string, string> = {};
      for (const wider of LEVELS.slice(level)) if (caller[wider]) labels[LOCALITY_LABELS[wider]] = caller[wider]!;
      return Object.freeze(labels);
    });
    callerLevels.set(caller, levels);
  }
  return levels;
}

/**
 * Polaris nearby routing: prefer instances in the caller's campus, zone or region
 * (`matchLevel`), degrading to the next wider level while the current one has no healthy
 * instance or a healthy share below `healthyRatioThreshold`, up to `maxMatchLevel`. It
 * narrows with the reserved locality labels (`metaroute.io/zone`...), which xDS writes into
 * every endpoint's envoy.lb, so Envoy's subset LB follows the choice.
 */
export class NearbyRouter implements Router {
  readonly name = 'nearby';
  readonly order = 400;
  private config: NearbyConfig = parse({});

  configure(config: unknown): void {
    this.config = parse(config);
  }

  labelKeys(): readonly string[] {
    return this.config.enabled ? Object.values(LOCALITY_LABELS) : [];
  }

  route(ctx: RequestContext, input: RouteInput): RouteResult {
    const c = this.config;
    if (!c.enabled) return undefined;
    const { service, candidates } = input;
    // An explicit list from an earlier (custom) router cannot take labels: leave it alone.
    if (candidates !== service.subset(input.labels)) return undefined;
    const levels = levelsOf(ctx.caller.labels);
    let widest: { subset: Subset; labels: Labels; level: number } | undefined;
    let known = false;
    for (let level = c.from; level <= c.to; level++) {
      const locality = levels[level];
      if (!locality) continue; // the caller does not say: try a wider level
      known = true;
      const labels = mergeLabels(input.labels, locality);
      const here = service.subset(labels);
      if (here.instances.length === 0) continue;
      if (here.healthy > 0 && here.healthy / here.instances.length >= c.healthyRatioThreshold) return narrow(input, here, labels, level);
      widest = { subset: here, labels, level };
    }
    // A caller with no label for any allowed level cannot be placed: no opinion, even when strict.
    if (!known || c.anyLocality || !c.strict) return undefined;
    // Strict never leaves maxMatchLevel: the widest allowed level with instances, healthy or not.
    return widest ? narrow(input, widest.subset, widest.labels, widest.level) : REJECT_NOTHING_NEARBY;
  }
}

function narrow(input: RouteInput, candidates: Subset, labels: Labels, level: number): RouteResult {
  if (candidates.instances.length === input.candidates.instances.length) return undefined; // every candidate is already nearby
  return { kind: 'narrow', candidates, labels, note: NOTES[level]! };
}

function parse(config: unknown): NearbyConfig {
  const r = new ConfigReader('nearby', config, FIELDS);
  const matchLevel: Level = r.oneOf('matchLevel', LEVELS, 'zone');
  const maxMatchLevel: MaxLevel = r.oneOf('maxMatchLevel', MAX_LEVELS, 'region');
  const from = LEVELS.indexOf(matchLevel);
  const to = maxMatchLevel === 'all' ? LEVELS.length - 1 : LEVELS.indexOf(maxMatchLevel);
  if (to < from) throw r.error('maxMatchLevel', `must be as wide as matchLevel (${matchLevel}) or wider`, maxMatchLevel);
  return {
    enabled: r.boolean('enabled', false),
    from,
    to,
    anyLocality: maxMatchLevel === 'all',
    strict: r.boolean('strict', false),
    healthyRatioThreshold: r.number('healthyRatioThreshold', 0, 1, 0.5),
  };
}
