import { DEFAULT_NAMESPACE, NAMESPACE_NAME, SERVICE_NAME, serviceKey } from '../model/instance';
import type { Destination, MatchType, MetadataFailover, MetadataRoute } from '../model/rule';
import { LABEL_SOURCE_TYPES, MATCH_TYPES, sourceNeedsKey } from '../model/rule';
import { formatPath, type Path, type RuleError } from './errors';
import { testOf } from './matchers';
import { MAX_DOCUMENT_REGEX_WEIGHT, regexWeight } from './regex';
import type { ArgumentSpec, LabelSourceSpec, MatchSpec, RuleDocument, RuleSpec, SourceSpec } from './schema';

/** Where a path's node sits in the source text; `key` asks for the map key naming it. */
export type Locate = (path: Path, key?: boolean) => { line: number; column: number } | undefined;

export type ValidationResult =
  | { readonly ok: true; readonly document: RuleDocument }
  | { readonly ok: false; readonly errors: RuleError[] };

const TOP_FIELDS = ['rules', 'metadataRoutes'];
const RULE_FIELDS = ['name', 'service', 'namespace', 'direction', 'sources', 'destinations', 'failover', 'stickyBy'];
const SOURCE_FIELDS = ['service', 'namespace', 'arguments'];
const ARGUMENT_FIELDS = ['type', 'key', 'match'];
const STICKY_FIELDS = ['type', 'key'];
const MATCH_FIELDS = ['type', 'value'];
const DESTINATION_FIELDS = ['name', 'labels', 'priority', 'weight', 'isolate', 'cluster'];
const METADATA_ROUTE_FIELDS = ['service', 'namespace', 'keys', 'failover', 'mode', 'from', 'claims'];
const DIRECTIONS = ['inbound', 'outbound'] as const;
const METADATA_FAILOVERS: readonly MetadataFailover[] = ['none', 'all', 'others'];
const MODES = ['subset', 'endpoint'] as const;
const KEY_ORIGINS = ['request', 'claim'] as const;
/** Failover keywords; a destination may not take these names, so `failover` is never ambiguous. */
const FAILOVER_KEYWORDS = ['all', 'none'];

type Obj = Readonly<Record<string, unknown>>;

const SERVICE_CHARS = "letters, digits, '_', '.', '-' in a service name";
const NAMESPACE_CHARS = "letters, digits, '_', '-' in a namespace (no '.': <service>.<namespace> names the cluster)";

/**
 * Checks a plain value (parsed YAML/JSON or an API body) against the rule document schema
 * and returns it with defaults filled in, or every error found. `null` counts as absent
 * (YAML `key:` with nothing after it), so an empty document is an empty rule set. `strict`
 * for a new document: service, namespace and cluster names registration refuses are errors.
 */
export function validateRules(value: unknown, locate?: Locate, strict = false): ValidationResult {
  const c = new Checker(locate, strict);
  if (value === null || value === undefined) return { ok: true, document: { rules: [], metadataRoutes: [] } };
  if (!isObject(value)) {
    c.report([], `must be a mapping with "rules" and/or "metadataRoutes", got ${kind(value)}`);
    return { ok: false, errors: c.errors };
  }
  c.fields([], value, TOP_FIELDS);

  const rules: RuleSpec[] = [];
  const ruleNames = new Map<string, number>();
  c.list([], value, 'rules', false).forEach((item, i) => {
    const rule = c.rule(['rules', i], item);
    if (!rule) return;
    rules.push(rule);
    if (rule.name === '') return;
    const first = ruleNames.get(rule.name);
    if (first === undefined) ruleNames.set(rule.name, i);
    else c.report(['rules', i, 'name'], `duplicate rule name ${JSON.stringify(rule.name)} (first at rules[${first}])`);
  });

  const metadataRoutes: MetadataRoute[] = [];
  const routeServices = new Map<string, number>();
  c.list([], value, 'metadataRoutes', false).forEach((item, i) => {
    const route = c.metadataRoute(['metadataRoutes', i], item);
    if (!route) return;
    metadataRoutes.push(route);
    if (route.service === '') return;
    const key = serviceKey(route.namespace, route.service);
    const first = routeServices.get(key);
    if (first === undefined) routeServices.set(key, i);
    else c.report(['metadataRoutes', i], `duplicate metadata route for service ${key} (first at metadataRoutes[${first}])`);
  });

  return c.errors.length > 0 ? { ok: false, errors: c.errors } : { ok: true, document: { rules, metadataRoutes } };
}

/**
 * Collects errors while reading. Readers never stop at the first problem: on an error they
 * report it and return a placeholder (a default, '' or []), so checking continues and the
 * caller sees every error at once. The document is only returned when there are none.
 */
class Checker {
  readonly errors: RuleError[] = [];
  /** Of the REGEX values so far (regexWeight); past the budget the rest are not compiled. */
  private regexWeight = 0;

  constructor(
    private readonly locate?: Locate,
    /** A new document (API, file, editor, `metaroute validate`): names registration refuses are errors too. */
    private readonly strict = false,
  ) {}

  report(path: Path, message: string, atKey = false): void {
    this.errors.push({ path: formatPath(path), ...this.locate?.(path, atKey), message });
  }

  rule(path: Path, value: unknown): RuleSpec | undefined {
    const o = this.mapping(path, value, RULE_FIELDS);
    if (!o) return undefined;
    const name = this.name(path, o, 'name');
    const service = this.serviceName(path, o);
    const namespace = this.namespaceName(path, o, DEFAULT_NAMESPACE);
    const direction = this.oneOf(path, o, 'direction', DIRECTIONS) ?? 'inbound';
    const sources = this.list(path, o, 'sources', false).map((s, i) => this.source([...path, 'sources', i], s));
    const destinations = this.destinations(path, o);
    const failover = this.failover(path, o, destinations);
    const stickyValue = field(o, 'stickyBy');
    const sticky = stickyValue === undefined ? undefined : this.mapping([...path, 'stickyBy'], stickyValue, STICKY_FIELDS);
    const stickyBy = sticky && this.labelSource([...path, 'stickyBy'], sticky);
    return {
      name, service, namespace, direction,
      sources: sources.filter((s): s is SourceSpec => s !== undefined),
      destinations, failover,
      ...(stickyBy && { stickyBy }),
    };
  }

  source(path: Path, value: unknown): SourceSpec | undefined {
    const o = this.mapping(path, value, SOURCE_FIELDS);
    if (!o) return undefined;
    const args = this.list(path, o, 'arguments', false).map((a, i) => this.argument([...path, 'arguments', i], a));
    return {
      service: this.registrable([...path, 'service'], this.string(path, o, 'service', { ident: true }) ?? '*', SERVICE_NAME, SERVICE_CHARS),
      namespace: this.namespaceName(path, o, '*'),
      arguments: args.filter((a): a is ArgumentSpec => a !== undefined),
    };
  }

  argument(path: Path, value: unknown): ArgumentSpec | undefined {
    const o = this.mapping(path, value, ARGUMENT_FIELDS);
    if (!o) return undefined;
    const source = this.labelSource(path, o);
    const matchPath = [...path, 'match'];
    const matchValue = field(o, 'match');
    if (matchValue === undefined) {
      this.report(matchPath, 'is required');
      return undefined;
    }
    const m = this.mapping(matchPath, matchValue, MATCH_FIELDS);
    const match = m && this.match(matchPath, m);
    return source && match && { ...source, match };
  }

  match(path: Path, o: Obj): MatchSpec | undefined {
    const before = this.errors.length;
    const type: MatchType = this.oneOf(path, o, 'type', MATCH_TYPES) ?? 'EXACT';
    let value: string | undefined;
    // EXISTS takes a YAML boolean as written (`value: true`); every other value is a string.
    const raw = field(o, 'value');
    if (type === 'EXISTS' && typeof raw === 'boolean') value = String(raw);
    else value = this.string(path, o, 'value', { allowEmpty: true });
    if (this.errors.length > before) return undefined;
    const spec: MatchSpec = value === undefined ? { type } : { type, value };
    if (type === 'REGEX' && value !== undefined) {
      const over = this.regexWeight > MAX_DOCUMENT_REGEX_WEIGHT;
      this.regexWeight += regexWeight(value);
      if (this.regexWeight > MAX_DOCUMENT_REGEX_WEIGHT) {
        // Reported once, where the budget ran out.
        if (!over) this.report([...path, 'value'], `the document's regexes weigh more than ${MAX_DOCUMENT_REGEX_WEIGHT} (characters plus {n,m} repeat counts); compiling them would hold the check too long`);
        return undefined;
      }
    }
    try {
      testOf(spec);
    } catch (err) {
      this.report([...path, 'value'], (err as Error).message);
      return undefined;
    }
    return spec;
  }

  /** `type` + `key` (only for sources that have one), shared by arguments and stickyBy. */
  labelSource(path: Path, o: Obj): LabelSourceSpec | undefined {
    const type = this.oneOf(path, o, 'type', LABEL_SOURCE_TYPES);
    if (field(o, 'type') === undefined) this.report([...path, 'type'], `is required (one of: ${LABEL_SOURCE_TYPES.join(', ')})`);
    if (type === undefined) return undefined;
    if (!sourceNeedsKey(type)) {
      if (field(o, 'key') === undefined) return { type };
      this.report([...path, 'key'], `is not used by type ${type}; remove it`, true);
      return undefined;
    }
    const key = this.string(path, o, 'key', { required: true, ident: true });
    return key === undefined ? undefined : { type, key };
  }

  destinations(path: Path, o: Obj): Destination[] {
    const listPath = [...path, 'destinations'];
    const items = this.list(path, o, 'destinations', true);
    const destinations: Destination[] = [];
    const names = new Map<string, number>();
    items.forEach((item, i) => {
      const d = this.destination([...listPath, i], item);
      if (!d) return;
      destinations.push(d);
      if (d.name === '') return;
      const first = names.get(d.name);
      if (first === undefined) names.set(d.name, i);
      else this.report([...listPath, i, 'name'], `duplicate destination name ${JSON.stringify(d.name)} (first at destinations[${first}])`);
    });
    if (destinations.length === 0 || destinations.length < items.length) return destinations;

    const active = destinations.filter((d) => !d.isolate);
    if (active.length === 0) {
      this.report(listPath, 'every destination is isolated; at least one must receive traffic');
      return destinations;
    }
    const totals = new Map<number, number>();
    for (const d of active) totals.set(d.priority, (totals.get(d.priority) ?? 0) + d.weight);
    for (const [priority, total] of [...totals].sort((a, b) => a[0] - b[0])) {
      if (total > 0) continue;
      const group = active.filter((d) => d.priority === priority).map((d) => d.name).join(', ');
      this.report(listPath, `priority ${priority} group (${group}) has a total weight of 0; give one of its non-isolated destinations a weight > 0`);
    }
    return destinations;
  }

  destination(path: Path, value: unknown): Destination | undefined {
    const o = this.mapping(path, value, DESTINATION_FIELDS);
    if (!o) return undefined;
    const name = this.name(path, o, 'name');
    if (FAILOVER_KEYWORDS.includes(name)) this.report([...path, 'name'], `${JSON.stringify(name)} is reserved for failover; choose another name`);
    return {
      name,
      labels: this.labels([...path, 'labels'], field(o, 'labels')),
      priority: this.count(path, o, 'priority') ?? 0,
      weight: this.count(path, o, 'weight') ?? 100,
      isolate: this.boolean(path, o, 'isolate') ?? false,
      ...(field(o, 'cluster') === undefined ? {} : { cluster: this.clusterName(path, o) }),
    };
  }

  labels(path: Path, value: unknown): Readonly<Record<string, string>> {
    if (value === undefined) {
      this.report(path, 'is required (a mapping of instance labels)');
      return {};
    }
    if (!isObject(value)) {
      this.report(path, `must be a mapping of instance labels, got ${kind(value)}`);
      return {};
    }
    const entries = Object.entries(value);
    if (entries.length === 0) this.report(path, 'must not be empty');
    for (const [k, v] of entries) {
      if (k === '' || k.trim() !== k) this.report([...path, k], 'label names must be non-empty without surrounding spaces', true);
      this.checkString([...path, k], v, { ident: true });
    }
    // fromEntries defines own properties, so even a `__proto__` label stays a label.
    return Object.fromEntries(entries) as Record<string, string>;
  }

  failover(path: Path, o: Obj, destinations: readonly Destination[]): string {
    const failover = this.string(path, o, 'failover', {}) ?? 'all';
    if (FAILOVER_KEYWORDS.includes(failover)) return failover;
    const target = destinations.find((d) => d.name === failover);
    const names = [...new Set(destinations.map((d) => d.name))].filter((n) => n !== '');
    if (!target) {
      // Destinations missing, misspelt or unnamed are reported on their own; an empty "one of:" would read as cut off.
      const choices = names.length === 0 ? 'all or none (the rule has no named destination)' : `all, none or one of: ${names.join(', ')}`;
      this.report([...path, 'failover'], `names no destination of this rule; expected ${choices}`);
    } else if (target.isolate) {
      this.report([...path, 'failover'], `names isolated destination ${JSON.stringify(failover)}, which receives no traffic`);
    }
    return failover;
  }

  metadataRoute(path: Path, value: unknown): MetadataRoute | undefined {
    const o = this.mapping(path, value, METADATA_ROUTE_FIELDS);
    if (!o) return undefined;
    const keys = this.list(path, o, 'keys', true);
    const seen = new Set<string>();
    keys.forEach((k, i) => {
      const key = this.checkString([...path, 'keys', i], k, { ident: true });
      if (key === undefined) return;
      if (seen.has(key)) this.report([...path, 'keys', i], `duplicate key ${JSON.stringify(key)}`);
      seen.add(key);
    });
    const from = this.oneOf(path, o, 'from', KEY_ORIGINS) ?? 'request';
    const route = {
      service: this.serviceName(path, o),
      namespace: this.namespaceName(path, o, DEFAULT_NAMESPACE),
      keys: [...seen],
      failover: this.oneOf(path, o, 'failover', METADATA_FAILOVERS) ?? 'none',
      mode: this.oneOf(path, o, 'mode', MODES) ?? 'subset',
    };
    if (from === 'claim') return { ...route, from, claims: this.claimNames(path, o, seen) };
    if (o['claims'] !== undefined) this.report([...path, 'claims'], 'applies only with from: claim');
    return { ...route, from };
  }

  /** `claims: {key: claim}`: which verified claim holds each key (default: the claim named like the key). */
  private claimNames(path: Path, o: Obj, keys: ReadonlySet<string>): Readonly<Record<string, string>> {
    const names: Record<string, string> = {};
    for (const key of keys) names[key] = key;
    if (o['claims'] === undefined) return names;
    const m = this.mapping([...path, 'claims'], o['claims'], [...keys]);
    for (const key of Object.keys(m ?? {})) {
      const claim = this.checkString([...path, 'claims', key], m![key], {});
      if (claim) names[key] = claim;
    }
    return names;
  }

  // ---- readers: each reports its own errors and returns undefined for absent or invalid ----

  /** A mapping whose keys are all in `allowed`. */
  mapping(path: Path, value: unknown, allowed: readonly string[]): Obj | undefined {
    if (!isObject(value)) {
      this.report(path, `must be a mapping, got ${kind(value)}`);
      return undefined;
    }
    this.fields(path, value, allowed);
    return value;
  }

  fields(path: Path, o: Obj, allowed: readonly string[]): void {
    for (const key of Object.keys(o)) {
      if (!allowed.includes(key)) this.report([...path, key], unknownField(key, allowed), true);
    }
  }

  list(path: Path, o: Obj, name: string, required: boolean): readonly unknown[] {
    const value = field(o, name);
    if (value === undefined) {
      if (required) this.report([...path, name], 'is required');
      return [];
    }
    if (!Array.isArray(value)) {
      this.report([...path, name], `must be a list, got ${kind(value)}`);
      return [];
    }
    if (required && value.length === 0) this.report([...path, name], 'must not be empty');
    return value;
  }

  string(path: Path, o: Obj, name: string, opts: StringOpts): string | undefined {
    const value = field(o, name);
    if (value === undefined) {
      if (opts.required) this.report([...path, name], 'is required');
      return undefined;
    }
    return this.checkString([...path, name], value, opts);
  }

  checkString(path: Path, value: unknown, opts: StringOpts): string | undefined {
    if (typeof value !== 'string') {
      const hint = typeof value === 'number' || typeof value === 'boolean' ? ' (quote it in YAML)' : '';
      this.report(path, `must be a string, got ${kind(value)}${hint}`);
      return undefined;
    }
    if (value === '' && !opts.allowEmpty) {
      this.report(path, 'must not be empty');
      return undefined;
    }
    if (opts.ident && value.trim() !== value) {
      this.report(path, 'must not start or end with spaces');
      return undefined;
    }
    return value;
  }

  /** A required, non-empty name. '' stands for "missing or invalid" (already reported). */
  name(path: Path, o: Obj, name: string): string {
    return this.string(path, o, name, { required: true, ident: true }) ?? '';
  }

  /** The service a rule or route is attached to: one service, not a wildcard. */
  serviceName(path: Path, o: Obj): string {
    const service = this.name(path, o, 'service');
    if (service !== '*') return this.registrable([...path, 'service'], service, SERVICE_NAME, SERVICE_CHARS);
    this.report([...path, 'service'], 'must name one service ("*" is only allowed in sources)');
    return '';
  }

  private namespaceName(path: Path, o: Obj, fallback: string): string {
    return this.registrable([...path, 'namespace'], this.string(path, o, 'namespace', { ident: true }) ?? fallback, NAMESPACE_NAME, NAMESPACE_CHARS);
  }

  /** A destination's other cluster: `<service>.<namespace>`, the namespace after the last '.'. */
  private clusterName(path: Path, o: Obj): string {
    const cluster = this.name(path, o, 'cluster');
    const dot = cluster.lastIndexOf('.');
    if (this.strict && cluster !== '' && (dot < 0 || !SERVICE_NAME.test(cluster.slice(0, dot)) || !NAMESPACE_NAME.test(cluster.slice(dot + 1)))) {
      this.report([...path, 'cluster'], `${JSON.stringify(cluster)} can never match: a cluster is <service>.<namespace> as registration takes them`);
    }
    return cluster;
  }

  /**
   * In a new document, a name registration refuses can never match, so it is an error. A stored
   * document is checked without this (it was valid when it was written, and refusing it at start
   * would leave the replica with no rules at all).
   */
  private registrable(path: Path, name: string, pattern: RegExp, chars: string): string {
    if (this.strict && name !== '*' && name !== '' && !pattern.test(name)) this.report(path, `${JSON.stringify(name)} can never match: registration takes ${chars}`);
    return name;
  }

  oneOf<T extends string>(path: Path, o: Obj, name: string, allowed: readonly T[]): T | undefined {
    const value = this.string(path, o, name, {});
    if (value === undefined) return undefined;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.report([...path, name], `must be one of: ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
    return undefined;
  }

  /** An integer >= 0. */
  count(path: Path, o: Obj, name: string): number | undefined {
    const value = field(o, name);
    if (value === undefined) return undefined;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
    this.report([...path, name], `must be an integer >= 0, got ${typeof value === 'number' ? value : kind(value)}`);
    return undefined;
  }

  boolean(path: Path, o: Obj, name: string): boolean | undefined {
    const value = field(o, name);
    if (value === undefined || typeof value === 'boolean') return value;
    this.report([...path, name], `must be true or false, got ${kind(value)}`);
    return undefined;
  }
}

interface StringOpts {
  readonly required?: boolean;
  /** A name or key: surrounding spaces are a mistake that would silently never match. */
  readonly ident?: boolean;
  /** Let the matcher judge '' (with a message naming the match type). */
  readonly allowEmpty?: boolean;
}

/** An own field; `null` (YAML `key:` with no value) counts as absent. */
function field(o: Obj, name: string): unknown {
  return Object.hasOwn(o, name) ? (o[name] ?? undefined) : undefined;
}

/** A plain mapping: not a list, and not a Buffer or Date that YAML tags can produce. */
function isObject(value: unknown): value is Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function kind(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return isObject(value) ? 'a mapping' : 'an object';
  return `a ${typeof value} ${JSON.stringify(value)}`;
}

function unknownField(key: string, allowed: readonly string[]): string {
  const close = allowed.find((a) => editDistance(key.toLowerCase(), a.toLowerCase()) <= 2);
  return close ? `unknown field (did you mean "${close}"?)` : `unknown field (expected one of: ${allowed.join(', ')})`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
