import { hasLabels, LABEL_KEY, RESERVED_LABEL_PREFIX, type Instance, type Labels } from '../model/instance';
import { fixedSubset, type Subset } from '../registry/service-view';
import { mergeLabels } from './labels';
import type { RouteInput, RouteResult } from './router';

/** Shared pieces of the built-in lane, nearby, canary and recover routers. */

/** A pushed lane or canary key: the reserved locality labels are the nearby router's, no instance registers them as metadata. */
export function checkOwnLabelKey(router: string, config: unknown, fallback: string): void {
  const key = (config as Record<string, unknown> | null)?.key ?? fallback;
  if (typeof key === 'string' && key.startsWith(RESERVED_LABEL_PREFIX)) {
    throw new Error(`${router}.key: ${JSON.stringify(key)} is reserved for locality labels (${RESERVED_LABEL_PREFIX}region, zone, campus); choose a metadata key`);
  }
}


/**
 * Reads a router's config object field by field; every error names `<router>.<field>`.
 * Unknown fields are refused so a typo (`matchlevel`) cannot silently keep a default.
 */
export class ConfigReader {
  private readonly o: Record<string, unknown>;

  constructor(private readonly router: string, config: unknown, fields: readonly string[]) {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new Error(`${router}: config must be an object`);
    this.o = config as Record<string, unknown>;
    for (const field of Object.keys(this.o)) {
      if (!fields.includes(field)) throw new Error(`${router}.${field}: unknown field (expected ${fields.join(', ')})`);
    }
  }

  boolean(field: string, fallback: boolean): boolean {
    const v = this.o[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw this.error(field, 'must be true or false', v);
    return v;
  }

  labelKey(field: string, fallback: string): string {
    const v = this.o[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !LABEL_KEY.test(v)) throw this.error(field, "must be a label key (letters, digits, '_', '.', '/', '-')", v);
    // Label maps are plain objects: `constructor` would be found on every one of them.
    if (v in Object.prototype) throw this.error(field, 'must not be a name of Object.prototype', v);
    return v;
  }

  /** An HTTP header name, lower-cased as Envoy sends it. */
  headerName(field: string, fallback: string): string {
    const v = this.o[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(v)) throw this.error(field, 'must be an HTTP header name', v);
    return v.toLowerCase();
  }

  oneOf<T extends string>(field: string, allowed: readonly T[], fallback: T): T {
    const v = this.o[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw this.error(field, `must be one of ${allowed.join(', ')}`, v);
    return v as T;
  }

  /** A number within [min, max]. */
  number(field: string, min: number, max: number, fallback: number): number {
    const v = this.o[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v >= min && v <= max)) throw this.error(field, `must be a number from ${min} to ${max}`, v);
    return v;
  }

  stringList(field: string): readonly string[] | undefined {
    const v = this.o[field];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s === '')) throw this.error(field, 'must be a list of non-empty strings', v);
    return v as string[];
  }

  error(field: string, message: string, got: unknown): Error {
    return new Error(`${this.router}.${field}: ${message}, got ${JSON.stringify(got)}`);
  }
}

/** Beyond this many distinct values the cache starts over: request-supplied values must not grow memory. */
const MAX_CACHED_VALUES = 1024;

/**
 * One frozen Labels object per combination of values for fixed keys, so
 * ServiceView.subset() and the answer encoder hit their identity memos instead of
 * building a key string per request.
 */
export class LabelCache {
  /** Every key with the value '': instances that lack the keys (lanes' and canaries' baseline, metadata's `others`). */
  readonly without: Labels;
  private readonly byValues = new Map<string, Labels>();

  constructor(readonly keys: readonly string[]) {
    this.without = Object.freeze(Object.fromEntries(keys.map((key) => [key, ''])));
  }

  /** The labels giving `values[i]` to `keys[i]`. */
  of(...values: string[]): Labels {
    const id = values.length === 1 ? values[0]! : values.join('\u0000');
    let labels = this.byValues.get(id);
    if (!labels) {
      if (this.byValues.size >= MAX_CACHED_VALUES) this.byValues.clear();
      labels = Object.freeze(Object.fromEntries(this.keys.map((key, i) => [key, values[i]!])));
      this.byValues.set(id, labels);
    }
    return labels;
  }
}

const filtered = new WeakMap<Subset, WeakMap<Labels, { version: number; result: Subset }>>();

/**
 * The candidates that also carry `added` (whose merge with the input labels is `merged`).
 * When the candidates are exactly what the input labels describe, that is the memoised
 * `service.subset(merged)`; when an earlier router left an explicit list (nearby), the list
 * itself is filtered, once per (list version, `added` object), so no earlier narrowing is lost.
 */
export function restrict(input: RouteInput, merged: Labels, added: Labels): Subset {
  const { service, candidates } = input;
  if (candidates === service.subset(input.labels)) return service.subset(merged);
  let byLabels = filtered.get(candidates);
  if (!byLabels) filtered.set(candidates, (byLabels = new WeakMap()));
  let cached = byLabels.get(added);
  if (cached?.version !== candidates.version) {
    cached = { version: candidates.version, result: subsetOf(candidates, (i) => hasLabels(i, added)) };
    byLabels.set(added, cached);
  }
  return cached.result;
}

/** The instances of `from` that pass `keep`; `from` itself when all do (identity keeps label descriptions valid). */
export function subsetOf(from: Subset, keep: (instance: Instance) => boolean): Subset {
  const instances = from.instances.filter(keep);
  return instances.length === from.instances.length ? from : fixedSubset(instances);
}

/** routeTagged's answer when every candidate left carries the key. */
export const ALL_TAGGED = Symbol('all candidates tagged');

/**
 * Lane and canary routing: instances labelled `<key>=<value>` serve the requests that ask
 * for `value` (`wanted`) while one of them is healthy; every other request goes to the
 * instances without the key. No opinion when an earlier router already chose the key or
 * no instance of the service carries it. `names` word the explain notes.
 */
export function routeTagged(
  input: RouteInput,
  tags: LabelCache,
  wanted: string | undefined,
  names: { readonly tagged: string; readonly untagged: string },
): RouteResult | typeof ALL_TAGGED {
  const { service } = input;
  if (input.labels[tags.keys[0]!] !== undefined) return undefined;
  if (service.subset(tags.without).instances.length === service.instances.length) return undefined;
  if (wanted) {
    const added = tags.of(wanted);
    const labels = mergeLabels(input.labels, added);
    const candidates = restrict(input, labels, added);
    if (candidates.healthy > 0) return { kind: 'narrow', candidates, labels, note: names.tagged };
  }
  const labels = mergeLabels(input.labels, tags.without);
  const candidates = restrict(input, labels, tags.without);
  if (candidates.instances.length === 0) return ALL_TAGGED;
  const note = wanted ? `${names.tagged} has no healthy instance: ${names.untagged}` : names.untagged;
  return { kind: 'narrow', candidates, labels, note };
}

/** `configure` of a router whose input is the rule document: it takes no configuration (`{}`). */
export function refuseConfig(router: string, config: unknown): void {
  const empty = config === undefined || config === null || (typeof config === 'object' && !Array.isArray(config) && Object.keys(config).length === 0);
  if (!empty) throw new Error(`router ${router} takes no configuration (its input is the rule document): send {}`);
}
