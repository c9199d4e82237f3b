import { NearbyRouter } from '../../src/routing/nearby-router';
import type { RouteInput } from '../../src/routing/router';
import { EMPTY_RULES } from '../../src/rules';
import type { RequestContext } from '../../src/context/request-context';
import { endpointAddress } from '../../src/model/instance';
import type { RoutingEngine } from '../../src/routing/engine';
import { decide, endpoints, engineWith, request, view, type InstanceSpec } from './helpers';

/** The healthy endpoints a nearby decision sends traffic to: its locality labels resolved as Envoy's subset LB would. */
function servedBy(engine: RoutingEngine, service: string, ctx: RequestContext): string[] {
  const decision = decide(engine, service, ctx);
  if (decision.kind !== 'subset') throw new Error(`expected a subset decision, got ${JSON.stringify(decision)}`);
  return view(engine, service).subset(decision.labels).instances.filter((i) => i.healthy).map(endpointAddress).sort();
}

const r1z1 = { region: 'r1', zone: 'z1' };
const r1z2 = { region: 'r1', zone: 'z2' };
const r2z3 = { region: 'r2', zone: 'z3' };
const CALLER = { labels: { region: 'r1', zone: 'z1' } };

/** z1: 4 instances, 3 unhealthy; z2 (same region): 2 healthy; r2: 1 healthy; `ok` has a healthy z1. */
const INSTANCES: InstanceSpec[] = [
  { service: 'sick', port: 1001, locality: r1z1 },
  { service: 'sick', port: 1002, locality: r1z1, healthy: false },
  { service: 'sick', port: 1003, locality: r1z1, healthy: false },
  { service: 'sick', port: 1004, locality: r1z1, healthy: false },
  { service: 'sick', port: 1005, locality: r1z2 },
  { service: 'sick', port: 1006, locality: r1z2 },
  { service: 'sick', port: 1007, locality: r2z3 },
  { service: 'ok', port: 2001, locality: r1z1 },
  { service: 'ok', port: 2002, locality: r1z1 },
  { service: 'ok', port: 2003, locality: r1z2 },
  { service: 'far', port: 3001, locality: r2z3 },
  { service: 'far', port: 3002, locality: { region: 'r2', zone: 'z1' } },
];

function setup(config: unknown) {
  const nearby = new NearbyRouter();
  nearby.configure(config);
  return { nearby, engine: engineWith(INSTANCES, [nearby]) };
}

test('configure({}) leaves the router disabled: no opinion', () => {
  expect(decide(setup({}).engine, 'ok', request({}, CALLER))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('a zone with a healthy share above the threshold keeps traffic in the zone, by locality labels', () => {
  const { engine } = setup({ enabled: true });
  expect(servedBy(engine, 'ok', request({}, CALLER))).toEqual(endpoints(2001, 2002));
  expect(decide(engine, 'ok', request({}, CALLER))).toEqual({ kind: 'subset', labels: { 'metaroute.io/region': 'r1', 'metaroute.io/zone': 'z1' } });
});

test('a zone with 1 of 4 healthy (0.25 < 0.5) degrades to the region', () => {
  // The region's healthy instances: z1's one and z2's two; r2 stays out.
  expect(servedBy(setup({ enabled: true }).engine, 'sick', request({}, CALLER))).toEqual(endpoints(1001, 1005, 1006));
  // With the threshold at 0.25 the zone is good enough.
  expect(servedBy(setup({ enabled: true, healthyRatioThreshold: 0.25 }).engine, 'sick', request({}, CALLER))).toEqual(endpoints(1001));
});

test('a zone name is matched within the caller region (r2/z1 is not near r1/z1)', () => {
  const { engine } = setup({ enabled: true, strict: true });
  expect(decide(engine, 'far', request({}, CALLER))).toEqual({ kind: 'reject', status: 503, body: 'no instance nearby' });
});

test('nothing within maxMatchLevel: no opinion, or 503 when strict; maxMatchLevel all never rejects', () => {
  expect(decide(setup({ enabled: true }).engine, 'far', request({}, CALLER))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
  expect(decide(setup({ enabled: true, strict: true }).engine, 'far', request({}, CALLER))).toMatchObject({ kind: 'reject', status: 503 });
  expect(decide(setup({ enabled: true, strict: true, maxMatchLevel: 'all' }).engine, 'far', request({}, CALLER))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('strict never leaves maxMatchLevel, even when it is below the threshold', () => {
  const { engine } = setup({ enabled: true, strict: true, maxMatchLevel: 'zone', healthyRatioThreshold: 1 });
  // z1 is 1/4 healthy, below 1: strict keeps the zone (its healthy endpoint) rather than go wider.
  expect(servedBy(engine, 'sick', request({}, CALLER))).toEqual(endpoints(1001));
  // Not strict: the zone is not good enough and maxMatchLevel forbids the region, so any locality.
  expect(decide(setup({ enabled: true, maxMatchLevel: 'zone', healthyRatioThreshold: 1 }).engine, 'sick', request({}, CALLER))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('matchLevel region; a caller without a zone label starts at the region; one without locality gets no opinion', () => {
  expect(servedBy(setup({ enabled: true, matchLevel: 'region' }).engine, 'sick', request({}, CALLER))).toEqual(endpoints(1001, 1005, 1006));
  expect(servedBy(setup({ enabled: true }).engine, 'sick', request({}, { labels: { region: 'r1' } }))).toEqual(endpoints(1001, 1005, 1006));
  expect(decide(setup({ enabled: true, strict: true }).engine, 'ok', request())).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('campus level compares campus within zone and region', () => {
  const engine = engineWith(
    [
      { service: 'db', port: 1, locality: { region: 'r1', zone: 'z1', campus: 'c1' } },
      { service: 'db', port: 2, locality: { region: 'r1', zone: 'z2', campus: 'c1' } },
      { service: 'db', port: 3, locality: { region: 'r1', zone: 'z1', campus: 'c2' } },
    ],
    [],
  );
  const nearby = new NearbyRouter();
  nearby.configure({ enabled: true, matchLevel: 'campus' });
  engine.setRouters([nearby]);
  expect(servedBy(engine, 'db', request({}, { labels: { region: 'r1', zone: 'z1', campus: 'c1' } }))).toEqual(endpoints(1));
});

test('when every candidate is nearby there is nothing to narrow: the earlier decision stays', () => {
  const engine = engineWith([{ service: 'one', port: 1, locality: r1z1 }], []);
  const nearby = new NearbyRouter();
  nearby.configure({ enabled: true });
  engine.setRouters([nearby]);
  expect(decide(engine, 'one', request({}, CALLER))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('locality labels are built once per caller: repeated requests hit the subset memo by identity', () => {
  const { nearby, engine } = setup({ enabled: true });
  const service = view(engine, 'ok');
  const input: RouteInput = { service, candidates: service.all, labels: {}, rules: EMPTY_RULES, registry: engine.current.registry };
  const caller = { labels: { ...CALLER.labels } };
  const first = nearby.route(request({}, caller), input);
  const second = nearby.route(request({}, caller), input);
  expect(first?.kind === 'narrow' && second?.kind === 'narrow' && second.labels === first.labels && second.candidates === first.candidates).toBe(true);
  expect(nearby.labelKeys()).toEqual(['metaroute.io/region', 'metaroute.io/zone', 'metaroute.io/campus']);
});

test('a refused config names the field and keeps the previous config', () => {
  const { nearby, engine } = setup({ enabled: true });
  expect(() => nearby.configure({ matchLevel: 'city' })).toThrow(/^nearby\.matchLevel: must be one of campus, zone, region/);
  expect(() => nearby.configure({ matchLevel: 'region', maxMatchLevel: 'zone' })).toThrow(/^nearby\.maxMatchLevel: must be as wide as matchLevel \(region\) or wider/);
  expect(() => nearby.configure({ healthyRatioThreshold: 1.5 })).toThrow(/^nearby\.healthyRatioThreshold: must be a number from 0 to 1/);
  expect(() => nearby.configure({ strict: 1 })).toThrow(/^nearby\.strict: must be true or false/);
  expect(servedBy(engine, 'ok', request({}, CALLER))).toEqual(endpoints(2001, 2002));
});
