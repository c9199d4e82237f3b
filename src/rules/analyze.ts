import { clusterName, instanceLabel, serviceKey, type Instance, type Labels } from '../model/instance';
import { labelSource } from './compile';
import { formatPath, type Path } from './errors';
import { contradicts, refuseTogether, describeMatch, implies } from './match-relations';
import { fileFormat, parseRuleText, type Position, type RuleFormat } from './parse';
import type { MatchSpec, RuleDocument, RuleSpec, SourceSpec } from './schema';
import { validateRules } from './validate';

export interface Finding {
  readonly severity: 'error' | 'warning';
  /** Stable name of the check, for scripts. */
  readonly code: 'no-instances' | 'unknown-labels' | 'unknown-cluster' | 'never-matches' | 'shadowed';
  readonly path: string;
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

export type AnalyzeResult = { readonly ok: true; readonly findings: Finding[] } | { readonly ok: false; readonly errors: Array<{ path: string; line?: number; column?: number; message: string }> };

/**
 * Checks a rule document against registered instances (in the spirit of `istioctl analyze`):
 * inbound rules for services without instances, destination labels no instance carries, sources
 * that can never match, and rules an earlier rule always wins over. An invalid document gives its
 * validation errors instead. `format`: how the text is read, by the origin's name unless given
 * (the server's document is read as it was stored: JSON sent to the API has the origin `api`).
 */
export function analyzeRules(text: string, origin: string, instances: readonly Instance[], format: RuleFormat = fileFormat(origin)): AnalyzeResult {
  const parsed = parseRuleText(text, format);
  if (!parsed.ok) return parsed;
  const validated = validateRules(parsed.parsed.value, parsed.parsed.locate);
  if (!validated.ok) return { ok: false, errors: validated.errors };
  const findings: Finding[] = [];
  const at = (path: Path): Position | Record<string, never> => parsed.parsed.locate(path) ?? {};
  const add = (severity: Finding['severity'], code: Finding['code'], path: Path, message: string) =>
    findings.push({ severity, code, path: formatPath(path), ...at(path), message });
  new Analysis(validated.document, instances, add).run();
  return { ok: true, findings: findings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)) };
}

type Report = (severity: Finding['severity'], code: Finding['code'], path: Path, message: string) => void;

class Analysis {
  private readonly byService = new Map<string, Instance[]>();
  private readonly byCluster = new Map<string, Instance[]>();

  constructor(private readonly doc: RuleDocument, private readonly instances: readonly Instance[], private readonly report: Report) {
    for (const i of instances) {
      const key = serviceKey(i.namespace, i.service);
      const list = this.byService.get(key) ?? [];
      list.push(i);
      this.byService.set(key, list);
      this.byCluster.set(clusterName(i.namespace, i.service), list);
    }
  }

  run(): void {
    this.doc.rules.forEach((rule, i) => this.rule(rule, ['rules', i]));
    this.shadowed();
    this.doc.metadataRoutes.forEach((route, i) => {
      const key = serviceKey(route.namespace, route.service);
      if (!this.byService.has(key)) this.report('error', 'no-instances', ['metadataRoutes', i, 'service'], `service ${key} has no registered instances`);
    });
  }

  private rule(rule: RuleSpec, path: Path): void {
    const key = serviceKey(rule.namespace, rule.service);
    const own = this.byService.get(key);
    // Routing looks the callee up in the registry, but takes the caller (an outbound rule's service) from the request.
    if (!own && rule.direction === 'inbound') {
      this.report('error', 'no-instances', [...path, 'service'], `callee service ${key} has no registered instances, so rule ${rule.name} never applies`);
    }
    rule.sources.forEach((source, s) => this.source(rule, source, [...path, 'sources', s]));
    rule.destinations.forEach((destination, d) => {
      // An isolated destination receives no traffic by design (kept to re-enable later): matching nothing is no finding.
      if (destination.isolate) return;
      const dpath = [...path, 'destinations', d];
      let candidates: readonly Instance[] | undefined;
      if (destination.cluster !== undefined) {
        candidates = this.byCluster.get(destination.cluster);
        if (!candidates) {
          this.report('error', 'unknown-cluster', [...dpath, 'cluster'], `cluster ${destination.cluster} has no registered instances`);
          return;
        }
      } else candidates = rule.direction === 'inbound' ? own : this.callees(rule);
      if (!candidates || Object.keys(destination.labels).length === 0) return;
      if (!candidates.some((i) => carries(i, destination.labels))) {
        const labels = Object.entries(destination.labels).map(([k, v]) => `${k}=${v}`).join(',');
        this.report('error', 'unknown-labels', [...dpath, 'labels'], `no instance carries ${labels}, so destination ${destination.name} never receives traffic`);
      }
    });
  }

  private source(rule: RuleSpec, source: SourceSpec, path: Path): void {
    // An inbound rule's source names the caller, taken from the request; an outbound rule's the callee, which routing looks up in the registry.
    if (rule.direction === 'outbound' && source.service !== '*' && !this.registered(source)) {
      const callee = source.namespace === '*' ? source.service : serviceKey(source.namespace, source.service);
      this.report('warning', 'never-matches', [...path, 'service'], `callee service ${callee} has no registered instances, so this source of rule ${rule.name} matches nothing yet`);
    }
    for (const [label, tests] of testsByLabel(source)) {
      // Two tests of one label that no value passes together: for each argument, the first earlier one.
      let pairs = 0;
      tests.forEach((later, j) => {
        const earlier = tests.find((e, i) => i < j && contradicts(e.match, later.match));
        if (!earlier) return;
        pairs++;
        const conflict = `must ${describeMatch(earlier.match)} (arguments[${earlier.index}]) and ${describeMatch(later.match)}`;
        this.report('error', 'never-matches', [...path, 'arguments', later.index], `${label} ${conflict}, so this source of rule ${rule.name} never matches`);
      });
      if (pairs > 0) continue;
      // No pair contradicts, but three or more tests may together.
      const together = refuseTogether(tests.map((t) => t.match));
      if (!together) continue;
      const named = tests.filter((t) => together.includes(t.match));
      const each = named.map((t) => `${describeMatch(t.match)} (arguments[${t.index}])`);
      const must = `${each.slice(0, -1).join(', ')} and ${each.at(-1)}`;
      this.report('error', 'never-matches', [...path, 'arguments', named.at(-1)!.index], `${label} must ${must}: no value passes them all, so this source of rule ${rule.name} never matches`);
    }
  }

  /** An outbound rule's callees: the services its sources name; any service when a source names none (`*`) or it has none. Undefined when none is registered (the sources say so). */
  private callees(rule: RuleSpec): readonly Instance[] | undefined {
    if (rule.sources.length === 0 || rule.sources.some((s) => s.service === '*')) return this.instances;
    const named = this.instances.filter((i) => rule.sources.some((s) => s.service === i.service && (s.namespace === '*' || s.namespace === i.namespace)));
    return named.length > 0 ? named : undefined;
  }

  private registered(source: SourceSpec): boolean {
    if (source.namespace !== '*') return this.byService.has(serviceKey(source.namespace, source.service));
    return [...this.byService.values()].some((list) => list[0]!.service === source.service);
  }

  /**
   * A later rule for the same service and direction never applies when an earlier one matches
   * every request it would (no sources, a source with no peer and no tests, or a source
   * covering each of its sources), or when several earlier ones do between them.
   */
  private shadowed(): void {
    const rules = this.doc.rules;
    rules.forEach((later, j) => {
      const earlier = rules.slice(0, j).map((rule, i) => ({ rule, i })).filter(({ rule }) => rule.service === later.service && rule.namespace === later.namespace && rule.direction === later.direction);
      const one = earlier.find(({ rule }) => matchesAll(rule) || (later.sources.length > 0 && later.sources.every((s) => rule.sources.some((e) => covers(e, s)))));
      const shadowing = one ? [one] : coveringEach(later, earlier);
      if (!shadowing) return;
      const names = shadowing.map(({ rule, i }) => `${rule.name} (rules[${i}])`);
      const by = names.length === 1 ? `rule ${names[0]} comes first and matches` : `rules ${names.slice(0, -1).join(', ')} and ${names.at(-1)} come first and between them match`;
      this.report('warning', 'shadowed', ['rules', j], `rule ${later.name} never applies: ${by} every request it would`);
    });
  }
}

type Placed = { readonly rule: RuleSpec; readonly i: number };

function matchesAll(rule: RuleSpec): boolean {
  return rule.sources.length === 0 || rule.sources.some((s) => s.service === '*' && s.namespace === '*' && s.arguments.length === 0);
}

/** For each source of `later`, the first earlier rule with a source covering it, in their order; undefined when one is left uncovered. */
function coveringEach(later: RuleSpec, earlier: readonly Placed[]): Placed[] | undefined {
  if (later.sources.length === 0) return undefined;
  const covering = new Set<Placed>();
  for (const source of later.sources) {
    const by = earlier.find(({ rule }) => rule.sources.some((e) => covers(e, source)));
    if (!by) return undefined;
    covering.add(by);
  }
  return [...covering].sort((a, b) => a.i - b.i);
}

function carries(instance: Instance, labels: Labels): boolean {
  for (const [k, v] of Object.entries(labels)) if (instanceLabel(instance, k) !== v) return false;
  return true;
}

interface LabelTest {
  readonly match: MatchSpec;
  /** Its place in the source's arguments. */
  readonly index: number;
}

const labelTests = new WeakMap<SourceSpec, ReadonlyMap<string, readonly LabelTest[]>>();

/** A source's tests by the label they read (named as routing reads it: a header's name lower-cased), in order; worked out once per source. */
function testsByLabel(source: SourceSpec): ReadonlyMap<string, readonly LabelTest[]> {
  let byLabel = labelTests.get(source);
  if (!byLabel) {
    const map = new Map<string, LabelTest[]>();
    source.arguments.forEach((argument, index) => {
      const { type, key } = labelSource(argument);
      const label = key === '' ? type : `${type} ${key}`;
      const tests = map.get(label);
      if (tests) tests.push({ match: argument.match, index });
      else map.set(label, [{ match: argument.match, index }]);
    });
    labelTests.set(source, (byLabel = map));
  }
  return byLabel;
}

/** Every request `later` matches, `earlier` matches too: its peer is the same or any, and each of its tests is implied by one of later's of that label. */
function covers(earlier: SourceSpec, later: SourceSpec): boolean {
  if (earlier.service !== '*' && earlier.service !== later.service) return false;
  if (earlier.namespace !== '*' && earlier.namespace !== later.namespace) return false;
  const laterTests = testsByLabel(later);
  for (const [label, tests] of testsByLabel(earlier)) {
    const own = laterTests.get(label);
    if (!own || !tests.every((e) => own.some((l) => implies(l.match, e.match)))) return false;
  }
  return true;
}
