import { instanceLabel, serves, type Instance, type Labels } from '../model/instance';
import type { Registry } from '../registry/registry';
import type { ServiceView } from '../registry/service-view';
import { sortInSteps, type Steps } from '../model/slices';
import { HttpError } from './http';

/** At most this many instances per page (a service may have 100,000). */
export const MAX_PAGE = 500;

export interface ServiceSummary {
  readonly namespace: string;
  readonly service: string;
  readonly cluster: string;
  readonly instances: number;
  readonly healthy: number;
}

export function serviceSummaries(registry: Registry): ServiceSummary[] {
  return [...registry.snapshot().services.values()]
    .map((v) => ({ namespace: v.namespace, service: v.name, cluster: v.cluster, instances: v.instances.length, healthy: v.healthy }))
    .sort((a, b) => (a.namespace + '/' + a.service < b.namespace + '/' + b.service ? -1 : 1));
}

export interface InstancePage {
  readonly offset: number;
  readonly limit: number;
  /** Instances matching the filter. */
  readonly matching: number;
  readonly instances: Array<Instance & { readonly lastHeartbeat: string | null }>;
}

/**
 * One page of a service's instances, filtered: every space-separated term must match; `k=v`
 * is a label (metadata or locality field), `healthy` / `unhealthy` the health, anything else
 * a substring of the id or `host:port`. One pass over the service, no copy of it.
 */
export function instancePage(registry: Registry, view: ServiceView, query: URLSearchParams): InstancePage {
  const offset = integer(query.get('offset'), 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
  const limit = integer(query.get('limit'), 'limit', 1, MAX_PAGE, 50);
  const matches = instanceFilter(query.get('filter') ?? '');
  const page: InstancePage['instances'] = [];
  let matching = 0;
  for (const instance of view.instances) {
    if (!matches(instance)) continue;
    if (matching >= offset && page.length < limit) {
      const at = registry.lastHeartbeat(view, instance);
      page.push({ ...instance, lastHeartbeat: at === undefined ? null : new Date(at).toISOString() });
    }
    matching++;
  }
  return { offset, limit, matching, instances: page };
}

const LOCALITY = { region: true, zone: true, campus: true };

/** Terms a filter may hold: each is tested on every instance of the service (1,500 over 100,000 instances took a second). */
const MAX_FILTER_TERMS = 16;

function instanceFilter(filter: string): (instance: Instance) => boolean {
  const terms = filter.split(/\s+/).filter((t) => t !== '');
  if (terms.length > MAX_FILTER_TERMS) throw new HttpError(400, `filter: ${terms.length} terms, at most ${MAX_FILTER_TERMS}`);
  const tests = terms.map((term): ((i: Instance) => boolean) => {
    // As the counts: healthy takes traffic (`serves`), so a weight-0 instance is unhealthy here.
    if (term === 'healthy') return serves;
    if (term === 'unhealthy') return (i) => !serves(i);
    const eq = term.indexOf('=');
    if (eq > 0) {
      const key = term.slice(0, eq);
      const value = term.slice(eq + 1);
      const field = key as keyof Instance['locality'];
      return (i) => instanceLabel(i, key) === value || (field in LOCALITY && i.locality[field] === value);
    }
    return (i) => i.id.includes(term) || `${i.host}:${i.port}`.includes(term);
  });
  return (instance) => tests.every((test) => test(instance));
}

export interface SubsetSize {
  /** The selector's keys: one `lb_subset_config` selector the rules and routers make Envoy keep. */
  readonly keys: readonly string[];
  readonly labels: Labels;
  readonly instances: number;
  readonly healthy: number;
}

/** Subsets a service page lists, the largest: a selector on a per-user label cuts 100,000 instances into as many. */
export const MAX_SUBSETS = 1000;
/** Instances grouped between two yields: about a millisecond. */
const GROUPED_PER_STEP = 2048;

/**
 * The subsets a service's selectors (from its rules and the routers' label keys) cut it into,
 * with their sizes, the MAX_SUBSETS largest, and how many more there are. Each selector reads
 * the instances that carry one of its keys (their postings), not the whole service: 1,000
 * selectors over 100,000 instances read every instance 1,000 times, in one turn. `''` is
 * "lacks the key", as Envoy's subset LB sees it (xDS writes it for missing selector keys).
 */
export function* subsetSizes(view: ServiceView, selectors: readonly (readonly string[])[]): Steps<{ subsets: SubsetSize[]; omitted: number }> {
  const out: SubsetSize[] = [];
  let grouped = 0;
  for (const keys of selectors) {
    // The service as it is now, copied in this step: it changes in place between steps, and an
    // instance whose label changed would be counted twice, or as lacking the key.
    const postings = keys.flatMap((key) => [...view.labelValues(key)].map(([, instances]) => instances.slice()));
    const total = view.instances.length;
    const totalHealthy = view.healthy;
    const groups = new Map<string, { labels: Record<string, string>; instances: number; healthy: number }>();
    const seen = new Set<Instance>(); // an instance carrying two of the keys is in two postings
    let carrying = 0;
    let carryingHealthy = 0;
    for (const instances of postings) {
      for (const instance of instances) {
        if (keys.length > 1 && seen.has(instance)) continue;
        if (keys.length > 1) seen.add(instance);
        const values = keys.map((k) => instanceLabel(instance, k) ?? '');
        const id = values.join('\u0000');
        let group = groups.get(id);
        if (!group) groups.set(id, (group = { labels: Object.fromEntries(keys.map((k, i) => [k, values[i]!])), instances: 0, healthy: 0 }));
        group.instances++;
        carrying++;
        if (serves(instance)) {
          group.healthy++;
          carryingHealthy++;
        }
        if (++grouped % GROUPED_PER_STEP === 0) yield;
      }
    }
    for (const group of groups.values()) out.push({ keys, ...group });
    const lacking = total - carrying;
    if (lacking > 0) out.push({ keys, labels: Object.fromEntries(keys.map((k) => [k, ''])), instances: lacking, healthy: totalHealthy - carryingHealthy });
    yield;
  }
  if (out.length <= MAX_SUBSETS) return { subsets: out, omitted: 0 };
  const largest = yield* sortInSteps(out, (a, b) => a.instances > b.instances);
  return { subsets: largest.slice(0, MAX_SUBSETS), omitted: out.length - MAX_SUBSETS };
}

function integer(text: string | null, name: string, min: number, max: number, fallback: number): number {
  if (text === null || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new HttpError(400, `${name}: must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}
