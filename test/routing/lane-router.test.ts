import { Registry } from '../../src/registry/registry';
import { RoutingEngine } from '../../src/routing/engine';
import { LaneRouter } from '../../src/routing/lane-router';
import { RuleRouter } from '../../src/routing/rule-router';
import { loadRules } from '../../src/rules';
import { decide, endpoints, engineWith, pickZone, instance, pickLabels, request, sortedEndpoints } from './helpers';

const INSTANCES = [
  { service: 'shop', port: 8001 },
  { service: 'shop', port: 8002 },
  { service: 'shop', port: 8003, metadata: { env: 'dev1' } },
  { service: 'shop', port: 8004, metadata: { env: 'dev2' }, healthy: false },
  { service: 'plain', port: 7001 },
  { service: 'lanes-only', port: 6001, metadata: { env: 'dev1' } },
];

function setup(config: unknown = { enabled: true }) {
  const lane = new LaneRouter();
  lane.configure(config);
  return { lane, engine: engineWith(INSTANCES, [lane]) };
}

test('configure({}) leaves the router disabled: no opinion', () => {
  const { engine } = setup({});
  expect(decide(engine, 'shop', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('the transitive header rpc-persist-env selects the lane', () => {
  const { engine } = setup();
  expect(decide(engine, 'shop', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'subset', labels: { env: 'dev1' } });
});

test("without the header the caller's own label selects the lane; the header wins over it", () => {
  const { engine } = setup();
  expect(decide(engine, 'shop', request({}, { labels: { env: 'dev1' } }))).toEqual({ kind: 'subset', labels: { env: 'dev1' } });
  expect(decide(engine, 'shop', request({ 'rpc-persist-env': 'dev9' }, { labels: { env: 'dev1' } }))).toEqual({ kind: 'subset', labels: { env: '' } });
});

test('a lane without a healthy instance, an unknown lane and no lane all go to the baseline', () => {
  const { engine } = setup();
  for (const ctx of [request({ 'rpc-persist-env': 'dev2' }), request({ 'rpc-persist-env': 'nope' }), request(), request({ 'rpc-persist-env': '' })]) {
    expect(decide(engine, 'shop', ctx)).toEqual({ kind: 'subset', labels: { env: '' } });
  }
});

test('a service without lane instances gets no opinion', () => {
  const { engine } = setup();
  expect(decide(engine, 'plain', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('no baseline: no opinion, or 503 when strict', () => {
  expect(decide(setup().engine, 'lanes-only')).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
  expect(decide(setup({ enabled: true, strict: true }).engine, 'lanes-only')).toEqual({ kind: 'reject', status: 503, body: "no baseline instance (each instance of the service is in a lane), and the request's lane, if any, has no healthy one" });
  // The lane itself still serves its own traffic.
  expect(decide(setup({ enabled: true, strict: true }).engine, 'lanes-only', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'subset', labels: { env: 'dev1' } });
});

test('`services` limits the router to those services (a bare name is the default namespace)', () => {
  const { engine } = setup({ enabled: true, services: ['other', 'default/x'] });
  expect(decide(engine, 'shop', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
  const scoped = setup({ enabled: true, services: ['shop'] });
  expect(decide(scoped.engine, 'shop', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'subset', labels: { env: 'dev1' } });
});

test('`key` names both the label and the header (rpc-persist-<key>, lower-cased)', () => {
  const engine = engineWith([{ service: 's', port: 1, metadata: { Lane: 'x' } }, { service: 's', port: 2 }], []);
  const lane = new LaneRouter();
  lane.configure({ enabled: true, key: 'Lane' });
  engine.setRouters([lane]);
  expect(decide(engine, 's', request({ 'rpc-persist-lane': 'x' }))).toEqual({ kind: 'subset', labels: { Lane: 'x' } });
});

test('labels from an earlier router are kept, and a key it already chose is left alone', () => {
  const lane = new LaneRouter();
  lane.configure({ enabled: true });
  const engine = engineWith(
    [
      { service: 'shop', port: 1, metadata: { version: 'v1' } },
      { service: 'shop', port: 2, metadata: { version: 'v1', env: 'dev1' } },
      { service: 'shop', port: 3, metadata: { version: 'v2' } },
    ],
    [pickLabels({ version: 'v1' }, 50), lane],
  );
  expect(decide(engine, 'shop', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'subset', labels: { version: 'v1', env: 'dev1' } });
  expect(decide(engine, 'shop')).toEqual({ kind: 'subset', labels: { version: 'v1', env: '' } });
  engine.setRouters([pickLabels({ env: 'dev1' }, 50), lane]);
  expect(decide(engine, 'shop')).toEqual({ kind: 'subset', labels: { env: 'dev1' } });
});

test('after an explicit list (a custom router), the lane filters that list instead of the whole service', () => {
  const lane = new LaneRouter();
  lane.configure({ enabled: true });
  const engine = engineWith(
    [
      { service: 'api', port: 9001, locality: { zone: 'z1' } },
      { service: 'api', port: 9002, locality: { zone: 'z1' }, metadata: { env: 'dev1' } },
      { service: 'api', port: 9003, locality: { zone: 'z2' } },
      { service: 'api', port: 9004, locality: { zone: 'z2' }, metadata: { env: 'dev1' } },
    ],
    [pickZone('z1', 10), lane],
  );
  expect(sortedEndpoints(decide(engine, 'api', request({}, { labels: { zone: 'z1' } })))).toEqual(endpoints(9001));
  expect(sortedEndpoints(decide(engine, 'api', request({ 'rpc-persist-env': 'dev1' }, { labels: { zone: 'z1' } })))).toEqual(endpoints(9002));
});

test('a refused config names the field and keeps the previous config', () => {
  const { lane, engine } = setup();
  expect(() => lane.configure({ key: 'bad key' })).toThrow(/^lane\.key: must be a label key/);
  expect(() => lane.configure({ key: 'constructor' })).toThrow(/^lane\.key: must not be a name of Object\.prototype/);
  expect(() => lane.configure({ services: 'shop' })).toThrow(/^lane\.services: must be a list/);
  expect(() => lane.configure({ enabled: 'yes' })).toThrow(/^lane\.enabled: must be true or false/);
  expect(() => lane.configure({ keys: 'env' })).toThrow(/^lane\.keys: unknown field/);
  expect(() => lane.configure(null)).toThrow(/^lane: config must be an object/);
  expect(decide(engine, 'shop', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'subset', labels: { env: 'dev1' } });
});

/** The rule router adds its destination's labels to the lane's: candidates and labels agree, and baseline traffic stays off lane instances. */
test('a rule after the lane keeps baseline traffic off lane instances', () => {
  const lane = new LaneRouter();
  lane.configure({ enabled: true });
  const registry = new Registry();
  registry.batch(() =>
    ([{ version: 'gray' }, { version: 'gray', env: 'dev1' }, { version: 'stable' }] as Record<string, string>[]).forEach((metadata, i) => registry.upsert(instance({ service: 'shop', port: i + 1, metadata }))),
  );
  const rules = loadRules('rules:\n  - name: gray\n    service: shop\n    destinations: [{ name: gray, labels: { version: gray } }]\n', 'test', 1);
  if (!rules.ok) throw new Error('bad test rules');
  const engine = new RoutingEngine({ registry: registry.snapshot(), rules: rules.snapshot });
  engine.setRouters([lane, new RuleRouter()]);
  expect(decide(engine, 'shop')).toEqual({ kind: 'subset', labels: { env: '', version: 'gray' } });
});

/** A rule after the lane, on shop: v2 only outside the lane, gray in and outside it (ROUTERS.md, "The routers after it"). */
function ruleAfterLane(destinations: string) {
  const lane = new LaneRouter();
  lane.configure({ enabled: true });
  const registry = new Registry();
  registry.batch(() =>
    ([{ version: 'v2' }, { version: 'gray', env: 'dev1' }, { version: 'gray' }, { env: 'prod' }] as Record<string, string>[]).forEach((metadata, i) => registry.upsert(instance({ service: 'shop', port: i + 1, metadata }))),
  );
  const rules = loadRules(`rules:\n  - name: r\n    service: shop\n    destinations: ${destinations}\n`, 'test', 1);
  if (!rules.ok) throw new Error(`bad test rules: ${JSON.stringify(rules.errors)}`);
  const engine = new RoutingEngine({ registry: registry.snapshot(), rules: rules.snapshot });
  engine.setRouters([lane, new RuleRouter()]);
  return engine;
}

test('in a lane, a rule group with no instance there gives way to the next priority', () => {
  const engine = ruleAfterLane('[{ name: v2, labels: { version: v2 }, priority: 0 }, { name: gray, labels: { version: gray }, priority: 1 }]');
  expect(decide(engine, 'shop', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'subset', labels: { env: 'dev1', version: 'gray' } });
  expect(decide(engine, 'shop')).toEqual({ kind: 'subset', labels: { env: '', version: 'v2' } });
});

test('a rule destination naming the lane key replaces the lane', () => {
  const engine = ruleAfterLane('[{ name: prod, labels: { env: prod } }]');
  expect(decide(engine, 'shop', request({ 'rpc-persist-env': 'dev1' }))).toEqual({ kind: 'subset', labels: { env: 'prod' } });
});
