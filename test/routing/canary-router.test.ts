import { CanaryRouter } from '../../src/routing/canary-router';
import { decide, endpoints, engineWith, pickZone, pickLabels, request, sortedEndpoints, type InstanceSpec } from './helpers';

const INSTANCES: InstanceSpec[] = [
  { service: 'shop', port: 8001, metadata: { version: 'v1' }, locality: { zone: 'z1' } },
  { service: 'shop', port: 8002, metadata: { version: 'v1' }, locality: { zone: 'z2' } },
  { service: 'shop', port: 8003, metadata: { version: 'v2', canary: 'v2' }, locality: { zone: 'z1' } },
  { service: 'shop', port: 8004, metadata: { version: 'v3', canary: 'v3' }, healthy: false },
  { service: 'plain', port: 7001 },
];

function setup(config: unknown = { enabled: true }) {
  const canary = new CanaryRouter();
  canary.configure(config);
  return { canary, engine: engineWith(INSTANCES, [canary]) };
}

test('configure({}) leaves the router disabled: no opinion', () => {
  expect(decide(setup({}).engine, 'shop', request({ 'x-metaroute-canary': 'v2' }))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('x-metaroute-canary or rpc-persist-canary selects the canary', () => {
  const { engine } = setup();
  expect(decide(engine, 'shop', request({ 'x-metaroute-canary': 'v2' }))).toEqual({ kind: 'subset', labels: { canary: 'v2' } });
  expect(decide(engine, 'shop', request({ 'rpc-persist-canary': 'v2' }))).toEqual({ kind: 'subset', labels: { canary: 'v2' } });
});

test('a request without it, or for a canary with no healthy instance, only reaches instances without the key', () => {
  const { engine } = setup();
  for (const ctx of [request(), request({ 'x-metaroute-canary': 'v3' }), request({ 'x-metaroute-canary': 'v9' })]) {
    expect(decide(engine, 'shop', ctx)).toEqual({ kind: 'subset', labels: { canary: '' } });
  }
});

test('a service without canary instances gets no opinion', () => {
  expect(decide(setup().engine, 'plain', request({ 'x-metaroute-canary': 'v2' }))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('labels from an earlier router are merged; a key it chose itself is kept', () => {
  const canary = new CanaryRouter();
  canary.configure({ enabled: true });
  const engine = engineWith(INSTANCES, [pickLabels({ version: 'v1' }), canary]);
  expect(decide(engine, 'shop')).toEqual({ kind: 'subset', labels: { version: 'v1', canary: '' } });
  engine.setRouters([pickLabels({ canary: 'v2' }), canary]);
  expect(decide(engine, 'shop')).toEqual({ kind: 'subset', labels: { canary: 'v2' } });
  // Everything still in play is a canary: the earlier choice stands.
  engine.setRouters([pickLabels({ version: 'v2' }), canary]);
  expect(decide(engine, 'shop')).toEqual({ kind: 'subset', labels: { version: 'v2' } });
});

test('after an explicit list (a custom router) the canary choice stays within that list', () => {
  const canary = new CanaryRouter();
  canary.configure({ enabled: true });
  const engine = engineWith(INSTANCES, [pickZone('z1'), canary]);
  const z1 = { labels: { zone: 'z1' } };
  expect(sortedEndpoints(decide(engine, 'shop', request({}, z1)))).toEqual(endpoints(8001));
  expect(sortedEndpoints(decide(engine, 'shop', request({ 'x-metaroute-canary': 'v2' }, z1)))).toEqual(endpoints(8003));
});

test('`key` names the label and the persist header', () => {
  const { engine } = setup({ enabled: true, key: 'version' });
  expect(decide(engine, 'shop', request({ 'rpc-persist-version': 'v2' }))).toEqual({ kind: 'subset', labels: { version: 'v2' } });
  // Every shop instance has a version: none lacks the key, so that is "all canaries", no opinion.
  expect(decide(engine, 'shop')).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('a refused config names the field and keeps the previous config', () => {
  const { canary, engine } = setup();
  expect(() => canary.configure({ key: '' })).toThrow(/^canary\.key: must be a label key/);
  expect(() => canary.configure({ headr: 'x' })).toThrow(/^canary\.headr: unknown field \(expected enabled, key, header\)/);
  expect(decide(engine, 'shop', request({ 'x-metaroute-canary': 'v2' }))).toEqual({ kind: 'subset', labels: { canary: 'v2' } });
});
