import * as http from 'node:http';
import type * as net from 'node:net';
import { api } from '../support/app';
import { Gateway } from './gateway-harness';

/**
 * A seeded random walk of registry, rules and router-config changes through the shipped
 * gateway Envoy. After each step settles, Envoy's own view (config_dump with EDS, /clusters)
 * must equal what metaroute serves, and real requests must land where explain says.
 * Replaying a seed: FUZZ_VERBOSE prints each step, FUZZ_DEBUG adds Envoy's view of a misrouted
 * request's cluster, FUZZ_STOP_ON_FINDING stops at the first step with a finding.
 */

type Rng = () => number;

/** mulberry32: small, seedable, the same sequence everywhere. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const chance = (r: Rng, p: number): boolean => r() < p;

const SERVICES = ['shop', 'aigc'] as const;
const CLUSTER = (s: string) => `${s}.default`;
const SLOTS = 6;

interface Slot {
  readonly name: string;
  readonly port: number;
  readonly server: http.Server;
}

interface Registered {
  readonly id: string;
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly metadata: Record<string, string>;
  readonly locality: Record<string, string>;
  readonly healthy: boolean;
}

export interface Finding {
  readonly step: number;
  readonly kind: string;
  readonly detail: unknown;
}

async function startSlot(name: string): Promise<Slot> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'x-instance': name }).end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { name, port: (server.address() as net.AddressInfo).port, server };
}

function randomMetadata(r: Rng): Record<string, string> {
  const m: Record<string, string> = {};
  if (chance(r, 0.6)) m['version'] = pick(r, ['gray', 'base', 'v1']);
  if (chance(r, 0.4)) m['color'] = pick(r, ['blue', 'green']);
  if (chance(r, 0.2)) m['env'] = 'dev1';
  if (chance(r, 0.2)) m['canary'] = 'v2';
  if (chance(r, 0.4)) m['user'] = pick(r, ['alice', 'bob']);
  return m;
}

/** A rules document from a random choice of rule shapes (each routes on labels the slots may carry). */
function randomRules(r: Rng): { yaml: string; summary: string } {
  const rules: string[] = [];
  const routes: string[] = [];
  const names: string[] = [];
  if (chance(r, 0.5)) {
    names.push('staff-to-gray');
    rules.push(`  - name: staff-to-gray
    service: shop
    sources: [{ arguments: [{ type: header, key: x-user-role, match: { value: staff } }] }]
    destinations:
      - { name: gray, labels: { version: gray } }
      - { name: base, labels: { version: base }, priority: 1 }`);
  }
  if (chance(r, 0.5)) {
    const failover = pick(r, ['all', 'none', 'blue']);
    names.push(`blue-green(${failover})`);
    rules.push(`  - name: blue-green
    service: shop
    sources: [{ arguments: [{ type: header, key: x-user-id, match: { type: EXISTS } }] }]
    destinations:
      - { name: blue, labels: { color: blue }, weight: 50 }
      - { name: green, labels: { color: green }, weight: 50 }
    stickyBy: { type: header, key: x-user-id }
    failover: ${failover}`);
  }
  if (chance(r, 0.4)) {
    names.push('aigc-v1');
    rules.push(`  - name: aigc-v1
    service: aigc
    sources: [{ arguments: [{ type: header, key: x-version, match: { value: v1 } }] }]
    destinations:
      - { name: v1, labels: { version: v1 } }`);
  }
  if (chance(r, 0.3)) {
    names.push('to-aigc');
    rules.push(`  - name: to-aigc
    service: shop
    sources: [{ arguments: [{ type: header, key: x-to-aigc, match: { value: '1' } }] }]
    destinations:
      - { name: aigc, cluster: aigc.default, labels: { color: green } }`);
  }
  for (const service of SERVICES) {
    if (!chance(r, 0.4)) continue;
    const mode = pick(r, ['subset', 'endpoint']);
    const failover = pick(r, ['none', 'all', 'others']);
    names.push(`${service}:user(${mode},${failover})`);
    routes.push(`  - { service: ${service}, keys: [user], mode: ${mode}, failover: ${failover} }`);
  }
  const yaml = `rules:${rules.length ? `\n${rules.join('\n')}` : ' []'}\nmetadataRoutes:${routes.length ? `\n${routes.join('\n')}` : ' []'}\n`;
  return { yaml, summary: names.join(' ') || '(empty)' };
}

const ROUTER_CONFIGS: ReadonlyArray<{ router: string; config: object }> = [
  { router: 'lane', config: { enabled: true } },
  { router: 'lane', config: { enabled: true, strict: true } },
  { router: 'canary', config: { enabled: true } },
  { router: 'nearby', config: { enabled: true, matchLevel: 'zone', maxMatchLevel: 'region' } },
  { router: 'nearby', config: { enabled: true, matchLevel: 'zone', maxMatchLevel: 'zone', strict: true } },
  { router: 'recover', config: { mode: 'recover-all' } },
];

/** Request shapes sent after each step: each exercises one router or rule. */
const REQUESTS: ReadonlyArray<{ path: string; cluster: string; headers: Record<string, string> }> = [
  { path: '/', cluster: 'shop.default', headers: {} },
  { path: '/', cluster: 'shop.default', headers: { 'x-user-role': 'staff' } },
  { path: '/', cluster: 'shop.default', headers: { 'x-user-id': 'u7' } },
  { path: '/', cluster: 'shop.default', headers: { user: 'alice' } },
  { path: '/', cluster: 'shop.default', headers: { user: 'bob', 'rpc-persist-env': 'dev1' } },
  { path: '/', cluster: 'shop.default', headers: { 'x-metaroute-canary': 'v2' } },
  { path: '/', cluster: 'shop.default', headers: { 'x-to-aigc': '1' } },
  { path: '/aigc/x', cluster: 'aigc.default', headers: {} },
  { path: '/aigc/x', cluster: 'aigc.default', headers: { user: 'alice' } },
  { path: '/aigc/x', cluster: 'aigc.default', headers: { 'x-version': 'v1', user: 'bob' } },
];

/** Who the shipped gateway says it is (its ext_proc initial_metadata): nearby routing reads the zone. */
const GATEWAY_CALLER = { service: 'gateway', namespace: 'default', labels: { role: 'gateway', zone: 'z1' } };

const HEALTH = ['HEALTHY', 'UNHEALTHY', 'DRAINING'];

/** An endpoint as both sides describe it: address -> health, weight, envoy.lb labels. */
type EndpointView = Record<string, { health: string; weight: number; lb: Record<string, unknown> }>;

function endpointsOf(cla: any): EndpointView {
  const out: EndpointView = {};
  for (const group of cla?.endpoints ?? []) {
    for (const e of group.lb_endpoints ?? []) {
      const a = e.endpoint.address.socket_address;
      const health = typeof e.health_status === 'number' ? HEALTH[[1, 2, 3].indexOf(e.health_status)] : e.health_status ?? 'UNKNOWN';
      out[`${a.address}:${a.port_value}`] = {
        health,
        weight: Number(e.load_balancing_weight?.value ?? e.load_balancing_weight ?? 1),
        lb: e.metadata?.filter_metadata?.['envoy.lb'] ?? {},
      };
    }
  }
  return out;
}

/** What decides routing in a Cluster: its subset selectors and whether it uses override_host. */
function policyOf(cluster: any): { selectors: string[]; overrideHost: boolean } {
  const text = JSON.stringify(cluster ?? {});
  const selectors = (cluster?.lb_subset_config?.subset_selectors ?? []).map((s: any) => [...s.keys].sort().join(',')).sort();
  return { selectors, overrideHost: text.includes('override_host') };
}

/** Envoy's config dump shows an EDS DRAINING host as UNHEALTHY (both take no traffic). */
const coarse = (view: EndpointView): EndpointView =>
  Object.fromEntries(Object.entries(view).map(([a, e]) => [a, { ...e, health: e.health === 'DRAINING' ? 'UNHEALTHY' : e.health }]));

const stable = (v: unknown): string => JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));

export class ConsistencyFuzz {
  readonly findings: Finding[] = [];
  private readonly slots: Slot[] = [];
  private step = 0;
  private idCounter = 0;
  private readonly pushed = new Set<string>();
  readonly log: string[] = [];
  /** What the run did, so a test can tell a real run from a vacuous one. */
  readonly coverage = { kinds: new Set<string>(), answered: 0, slots: new Set<string>() };

  private constructor(private readonly gw: Gateway, private readonly r: Rng) {}

  static async start(seed: number, delta: boolean): Promise<ConsistencyFuzz> {
    const gw = await Gateway.start({}, {}, delta ? (b: any) => (b.dynamic_resources.ads_config.api_type = 'DELTA_GRPC') : undefined);
    const fuzz = new ConsistencyFuzz(gw, rng(seed));
    for (let i = 0; i < SLOTS; i++) fuzz.slots.push(await startSlot(`p${i}`));
    return fuzz;
  }

  private note(line: string): void {
    this.log.push(`[${this.step}] ${line}`);
    if (process.env['FUZZ_VERBOSE']) console.log(`[${this.step}] ${line}`);
  }

  private find(kind: string, detail: unknown): void {
    this.findings.push({ step: this.step, kind, detail });
    this.note(`FINDING ${kind}: ${JSON.stringify(detail).slice(0, 2000)}`);
  }

  async instances(): Promise<Registered[]> {
    const res = await api(this.gw.admin, 'GET', '/v1/instances');
    return res.json.instances as Registered[];
  }

  private async register(body: Record<string, unknown>): Promise<void> {
    const res = await api(this.gw.admin, 'POST', '/v1/instances', body);
    this.note(`register ${JSON.stringify(body)} -> ${res.status}`);
    if (res.status >= 300) this.find('registration-refused', { body, status: res.status, text: res.text });
  }

  private randomRegistration(slot: Slot, service: string, id?: string): Record<string, unknown> {
    const r = this.r;
    const body: Record<string, unknown> = {
      service, host: '127.0.0.1', port: slot.port, metadata: randomMetadata(r),
      locality: chance(r, 0.5) ? { region: 'r1', zone: pick(r, ['z1', 'z2']) } : {},
      healthy: chance(r, 0.8), weight: pick(r, [100, 100, 1, 5000, 0]), ephemeral: chance(r, 0.4),
    };
    if (body['ephemeral']) body['ttlSeconds'] = 3600;
    if (id !== undefined) body['id'] = id;
    return body;
  }

  /** One random change. */
  async change(): Promise<string> {
    this.step++;
    const r = this.r;
    const registered = await this.instances();
    const kind = pick(r, ['register', 'register', 'register', 'deregister', 'reregister', 'new-id', 'rules', 'rules', 'router', 'withdraw']);
    const ours = registered.filter((i) => SERVICES.includes(i.service as never));
    switch (kind) {
      case 'register': {
        const slot = pick(r, this.slots);
        const id = chance(r, 0.5) ? `i${++this.idCounter}` : undefined;
        await this.register(this.randomRegistration(slot, pick(r, SERVICES), id));
        return kind;
      }
      case 'deregister': {
        if (ours.length === 0) {
          this.note('deregister: nothing registered');
          return 'nothing';
        }
        const victim = pick(r, ours);
        const res = await api(this.gw.admin, 'DELETE', `/v1/instances/default/${victim.service}/${encodeURIComponent(victim.id)}`);
        this.note(`deregister ${victim.service}/${victim.id} -> ${res.status}`);
        return kind;
      }
      case 'reregister': {
        // Same id, new metadata, health, weight.
        if (ours.length === 0) {
          this.note('reregister: nothing registered');
          return 'nothing';
        }
        const old = pick(r, ours);
        const slot = this.slots.find((s) => s.port === old.port)!;
        await this.register(this.randomRegistration(slot, old.service, old.id));
        return kind;
      }
      case 'new-id': {
        // Same address, a new id: it displaces the old instance.
        if (ours.length === 0) {
          this.note('new-id: nothing registered');
          return 'nothing';
        }
        const old = pick(r, ours);
        const slot = this.slots.find((s) => s.port === old.port)!;
        await this.register(this.randomRegistration(slot, old.service, `i${++this.idCounter}`));
        return kind;
      }
      case 'rules': {
        const { yaml, summary } = randomRules(r);
        const res = await api(this.gw.admin, 'PUT', '/v1/rules', yaml);
        this.note(`rules ${summary} -> ${res.status}`);
        if (res.status >= 300) this.find('rules-refused', { yaml, text: res.text });
        return kind;
      }
      case 'router': {
        const { router, config } = pick(r, ROUTER_CONFIGS);
        const res = await api(this.gw.admin, 'PUT', `/v1/routers/${router}/config`, config);
        this.note(`router ${router} ${JSON.stringify(config)} -> ${res.status}`);
        if (res.status >= 300) this.find('router-refused', { router, config, text: res.text });
        else this.pushed.add(router);
        return kind;
      }
      case 'withdraw': {
        if (this.pushed.size === 0) {
          this.note('withdraw: nothing pushed');
          return 'nothing';
        }
        const router = pick(r, [...this.pushed].sort());
        this.pushed.delete(router);
        const res = await api(this.gw.admin, 'DELETE', `/v1/routers/${router}/config`);
        this.note(`withdraw ${router} -> ${res.status}`);
        if (res.status >= 300) this.find('withdraw-refused', { router, text: res.text });
        return kind;
      }
    }
    return kind;
  }

  /** metaroute's served Cluster and CLA of a service, or undefined when not served. */
  private async served(section: 'clusters' | 'endpoints', name: string): Promise<any> {
    const res = await api(this.gw.admin, 'GET', `/config_dump?resource=${section}&name=${name}`);
    return res.status === 200 ? res.json.resource : undefined;
  }

  /** Envoy's and metaroute's views, side by side, per service; a list of differences. */
  private async differences(): Promise<string[]> {
    const diffs: string[] = [];
    const dump = JSON.parse((await this.gw.envoy.admin('/config_dump?include_eds')).text);
    const section = (type: string) => dump.configs.find((c: any) => String(c['@type']).endsWith(type)) ?? {};
    const clusters = section('ClustersConfigDump');
    const active = new Map<string, any>((clusters.dynamic_active_clusters ?? []).map((c: any) => [c.cluster.name, c.cluster]));
    const warming = (clusters.dynamic_warming_clusters ?? []).map((c: any) => c.cluster.name);
    const eds = new Map<string, any>((section('EndpointsConfigDump').dynamic_endpoint_configs ?? []).map((c: any) => [c.endpoint_config.cluster_name, c.endpoint_config]));
    const statuses = JSON.parse((await this.gw.envoy.admin('/clusters?format=json')).text).cluster_statuses ?? [];
    const instances = await this.instances();
    if (warming.length > 0) diffs.push(`warming: ${warming.join(',')}`);
    for (const service of SERVICES) {
      const name = CLUSTER(service);
      const [cluster, cla] = [await this.served('clusters', name), await this.served('endpoints', name)];
      if ((cluster === undefined) !== !active.has(name)) diffs.push(`${name}: metaroute serves ${cluster ? 'it' : 'none'}, Envoy has ${active.has(name) ? 'it' : 'none'}`);
      if (!cluster) continue;
      const [mine, theirs] = [policyOf(cluster), policyOf(active.get(name))];
      if (stable(mine) !== stable(theirs)) diffs.push(`${name} policy: metaroute ${stable(mine)} Envoy ${stable(theirs)}`);
      const [mineE, theirE] = [endpointsOf(cla), endpointsOf(eds.get(name))];
      if (stable(coarse(mineE)) !== stable(coarse(theirE))) diffs.push(`${name} endpoints: metaroute ${stable(mineE)} Envoy ${stable(theirE)}`);
      // metaroute's CLA against its registry.
      const registered = instances.filter((i) => i.service === service);
      const expected: Record<string, string> = {};
      for (const i of registered) expected[`${i.host}:${i.port}`] = !i.healthy ? 'UNHEALTHY' : i.weight <= 0 ? 'DRAINING' : 'HEALTHY';
      const servedHealth = Object.fromEntries(Object.entries(mineE).map(([a, e]) => [a, e.health]));
      if (stable(expected) !== stable(servedHealth)) diffs.push(`${name} registry vs CLA: ${stable(expected)} vs ${stable(servedHealth)}`);
      for (const i of registered) {
        const lb = mineE[`${i.host}:${i.port}`]?.lb ?? {};
        for (const [k, v] of Object.entries(i.metadata)) if (lb[k] !== v) diffs.push(`${name} ${i.id}: label ${k}=${v} served as ${String(lb[k])}`);
        for (const [k, v] of Object.entries(lb)) if (!(k in i.metadata) && v !== '' && !k.startsWith('metaroute.io/')) diffs.push(`${name} ${i.id}: stale label ${k}=${String(v)}`);
      }
      const status = statuses.find((s: any) => s.name === name);
      const hosts = (status?.host_statuses ?? []).map((h: any) => `${h.address.socket_address.address}:${h.address.socket_address.port_value}`).sort();
      if (cluster && stable(hosts) !== stable(Object.keys(mineE).sort())) diffs.push(`${name} /clusters hosts ${stable(hosts)} vs CLA ${stable(Object.keys(mineE).sort())}`);
    }
    return diffs;
  }

  /** Waits (bounded) until Envoy's view equals metaroute's; a finding when it does not. */
  async settle(ms = 15_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    let diffs: string[] = [];
    while (Date.now() < deadline) {
      diffs = await this.differences();
      if (diffs.length === 0) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    this.find('not-converged', diffs);
    return false;
  }

  /** Real requests through Envoy, each checked against explain and the registry. */
  async probe(sendsEach = 3): Promise<void> {
    const instances = await this.instances();
    for (const request of REQUESTS) {
      for (let n = 0; n < sendsEach; n++) {
        let res = await fetch(`${this.gw.url}${request.path}`, { headers: request.headers });
        // 504: ext_proc answered after Envoy's 200 ms message_timeout, a loaded machine's doing, not routing's.
        if (res.status === 504) {
          await res.text();
          res = await fetch(`${this.gw.url}${request.path}`, { headers: request.headers });
        }
        const body = await res.text();
        const slotName = res.headers.get('x-instance');
        const slot = this.slots.find((s) => s.name === slotName);
        const answer = await api(this.gw.admin, 'POST', '/explain', { cluster: request.cluster, authority: this.gw.url.slice(7), path: request.path, method: 'GET', headers: request.headers, sourceAddress: '127.0.0.1:1', caller: GATEWAY_CALLER });
        if (answer.status !== 200) {
          if (res.status !== 503 && res.status !== 404) this.find('explain-failed', { request, status: answer.status, text: answer.text, envoy: res.status });
          continue;
        }
        const explained = answer.json;
        const problem = judge(explained, res.status, slot, instances);
        if (res.status === 200 && slot) {
          this.coverage.answered++;
          this.coverage.slots.add(slot.name);
        }
        if (problem && process.env['FUZZ_DEBUG']) this.note(`DEBUG ${await this.envoyState(request.cluster)}`);
        if (problem) this.find('misrouted', { request, status: res.status, body: body.slice(0, 200), landed: slot?.name && `${slot.name}:${slot.port}`, decision: explained.decision, steps: explained.steps?.map((s: any) => s.note ?? s), problem });
      }
    }
  }

  private async envoyState(name: string): Promise<string> {
    const status = JSON.parse((await this.gw.envoy.admin('/clusters?format=json')).text).cluster_statuses.find((s: any) => s.name === name);
    const dump = JSON.parse((await this.gw.envoy.admin('/config_dump?resource=dynamic_active_clusters')).text);
    const stats = (await this.gw.envoy.admin(`/stats?filter=${name}.(membership|lb_subsets|update_|upstream_cx_none)`)).text.replace(/\n/g, ' ');
    return JSON.stringify({ hosts: status?.host_statuses?.map((h: any) => ({ port: h.address.socket_address.port_value, health: h.health_status, weight: h.weight })), cluster: dump.configs.find((x: any) => x.cluster.name === name)?.cluster, stats });
  }

  /** NACKs on either side, Envoy errors, a process gone. */
  async health(): Promise<void> {
    const metrics = (await api(this.gw.admin, 'GET', '/metrics')).text;
    const nacks = metrics.split('\n').filter((l) => l.startsWith('metaroute_xds_nacks_total') && !/ 0$/.test(l));
    if (nacks.length) this.find('metaroute-nacks', nacks);
    const stats = (await this.gw.envoy.admin('/stats?filter=update_rejected|warming_clusters')).text.split('\n').filter((l) => /: [1-9]/.test(l));
    if (stats.length) this.find('envoy-rejected-or-warming', stats);
    const errors = this.gw.envoy.errors();
    if (errors.length) this.find('envoy-errors', errors.slice(-5));
  }

  async run(steps: number): Promise<void> {
    for (let i = 0; i < steps; i++) {
      const kind = await this.change();
      if (kind !== 'nothing') this.coverage.kinds.add(kind);
      // A rule or router change rolls out, then keeps the old selectors for 500 ms: judge what follows.
      if (kind === 'rules' || kind === 'router' || kind === 'withdraw') await new Promise((r) => setTimeout(r, 1000));
      const before = this.findings.length;
      if (await this.settle()) await this.probe();
      await this.health();
      if (this.findings.length > before && process.env['FUZZ_STOP_ON_FINDING']) break;
    }
  }

  async stop(): Promise<void> {
    await this.gw.stop();
    await Promise.all(this.slots.map((s) => new Promise((r) => s.server.close(r))));
  }
}

/** Whether a request's outcome is one explain's decision allows; a description of the mismatch, or undefined. */
function judge(explained: any, status: number, slot: Slot | undefined, instances: readonly Registered[]): string | undefined {
  const decision = explained.decision;
  const service = String(explained.service).split('/')[1];
  const at = (svc: string) => instances.filter((i) => i.service === svc && slot && i.port === slot.port);
  const serves = (i: Registered) => i.healthy && i.weight > 0;
  const matches = (i: Registered, labels: Record<string, string>) =>
    Object.entries(labels).every(([k, v]) => {
      const own = k.startsWith('metaroute.io/') ? (i as any).locality?.[k.slice('metaroute.io/'.length)] : i.metadata[k];
      return (own ?? '') === v;
    });
  const landedIn = (svc: string, labels: Record<string, string>) => {
    const candidates = instances.filter((i) => i.service === svc && matches(i, labels));
    // Nothing serves: Envoy's panic may pick any of them, or answer 503 (none, or only DRAINING ones).
    if (status !== 200 || !slot) return candidates.some(serves) ? `expected a backend of ${svc} ${JSON.stringify(labels)}, got status ${status}` : undefined;
    const here = at(svc).filter((i) => matches(i, labels));
    if (here.length === 0) return `landed outside ${svc} ${JSON.stringify(labels)}`;
    if (!here.some(serves) && candidates.some(serves)) return `landed on a non-serving instance while ${candidates.filter(serves).length} serve`;
    return undefined;
  };
  switch (decision.kind) {
    case 'reject':
      return status === decision.status ? undefined : `explain rejects with ${decision.status}`;
    case 'subset':
      return landedIn(service, decision.labels);
    case 'pass':
      return landedIn(service, {});
    case 'endpoints':
      if (status !== 200 || !slot) return `expected one of ${decision.endpoints.join(',')}, got ${status}`;
      return decision.endpoints.includes(`127.0.0.1:${slot.port}`) ? undefined : 'landed outside the endpoint list';
    case 'cluster': {
      const target = String(decision.cluster).split('.')[0]!;
      if (decision.endpoints) {
        if (status !== 200 || !slot) return `expected one of ${decision.endpoints.join(',')}, got ${status}`;
        return decision.endpoints.includes(`127.0.0.1:${slot.port}`) ? undefined : 'landed outside the switched cluster endpoint list';
      }
      return landedIn(target, decision.labels);
    }
    default:
      return `unknown decision ${decision.kind}`;
  }
}
