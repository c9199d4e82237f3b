import type { RequestContext } from '../context/request-context';
import type { Labels, Locality } from '../model/instance';
import type { Subset } from '../registry/service-view';
import type { RouteInput, RouteResult, Router } from './router';
import { ConfigReader, subsetOf } from './router-kit';

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
 * The caller's locality as one cache key per level (the values that level compares), or
 * undefined where the caller lacks that level's label. Caller label objects are shared by
 * every stream of one sidecar, so this is computed once per caller, not per request.
 */
const callerKeys = new WeakMap<Labels, readonly (string | undefined)[]>();

function keysOf(labels: Labels): readonly (string | undefined)[] {
  let keys = callerKeys.get(labels);
  if (!keys) {
    const region = labels.region ?? '';
    const zone = labels.zone ?? '';
    const campus = labels.campus ?? '';
    keys = [
      campus ? `campus\u0000${region}\u0000${zone}\u0000${campus}` : undefined,
      zone ? `zone\u0000${region}\u0000${zone}` : undefined,
      region ? `region\u0000${region}` : undefined,
    ];
    callerKeys.set(labels, keys);
  }
  return keys;
}

/** Locality-filtered candidates per (candidates object, level + caller locality): filtered once per snapshot. */
const filteredByLocality = new WeakMap<Subset, Map<string, Subset>>();

function nearby(candidates: Subset, level: number, key: string, caller: Labels): Subset {
  let byKey = filteredByLocality.get(candidates);
  if (!byKey) filteredByLocality.set(candidates, (byKey = new Map()));
  let result = byKey.get(key);
  if (!result) {
    result = subsetOf(candidates, (i) => sameLocality(i.locality, caller, level));
    byKey.set(key, result);
  }
  return result;
}

/** Equal at `level` and at every wider level the caller names (zone names need not be unique across regions). */
function sameLocality(locality: Locality, caller: Labels, level: number): boolean {
  for (let l = level; l < LEVELS.length; l++) {
    const field = LEVELS[l]!;
    const want = caller[field];
    if (want && locality[field] !== want) return false;
  }
  return true;
}

/**
 * Polaris nearby routing: prefer instances in the caller's campus, zone or region
 * (`matchLevel`), degrading to the next wider level while the current one has no healthy
 * instance or a healthy share below `healthyRatioThreshold`, up to `maxMatchLevel`.
 * Locality is not an instance label, so the result is an explicit instance list (the
 * engine sends it to Envoy as endpoints), with the input labels unchanged.
 */
export class NearbyRouter implements Router {
  readonly name = 'nearby';
  readonly order = 400;
  private config: NearbyConfig = parse({});

  configure(config: unknown): void {
    this.config = parse(config);
  }

  route(ctx: RequestContext, input: RouteInput): RouteResult {
    const c = this.config;
    if (!c.enabled) return undefined;
    const caller = ctx.caller.labels;
    const keys = keysOf(caller);
    const { candidates } = input;
    let widestNonEmpty: Subset | undefined;
    let widestLevel = 0;
    let known = false;
    for (let level = c.from; level <= c.to; level++) {
      const key = keys[level];
      if (key === undefined) continue; // the caller does not say: try a wider level
      known = true;
      const here = nearby(candidates, level, key, caller);
      if (here.instances.length === 0) continue;
      if (here.healthy > 0 && here.healthy / here.instances.length >= c.healthyRatioThreshold) return narrow(input, here, level);
      widestNonEmpty = here;
      widestLevel = level;
    }
    // A caller with no label for any allowed level cannot be placed: no opinion, even when strict.
    if (!known || c.anyLocality || !c.strict) return undefined;
    // Strict never leaves maxMatchLevel: the widest allowed level with instances, healthy or not.
    return widestNonEmpty ? narrow(input, widestNonEmpty, widestLevel) : REJECT_NOTHING_NEARBY;
  }
}

function narrow(input: RouteInput, candidates: Subset, level: number): RouteResult {
  if (candidates === input.candidates) return undefined; // every candidate is already nearby
  return { kind: 'narrow', candidates, labels: input.labels, note: NOTES[level]! };
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
