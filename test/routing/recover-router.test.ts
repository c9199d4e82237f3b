import { RecoverRouter } from '../../src/routing/recover-router';
import type { TraceStep } from '../../src/model/trace';
import { decide, endpoints, engineWith, pickZone, pickLabels, request, sortedEndpoints, type InstanceSpec } from './helpers';

const INSTANCES: InstanceSpec[] = [
  { service: 'shop', port: 8001, metadata: { version: 'v1' }, locality: { zone: 'z1' }, healthy: false },
  { service: 'shop', port: 8002, metadata: { version: 'v2' }, locality: { zone: 'z1' }, healthy: false },
  { service: 'shop', port: 8003, metadata: { version: 'v2' }, locality: { zone: 'z2' } },
];
const Z1 = { labels: { zone: 'z1' } };

function recover(config: unknown): RecoverRouter {
  const r = new RecoverRouter();
  r.configure(config);
  return r;
}

/** An explicit list (a custom router's pick) of zone z1: instances, none healthy. */
const strictZone = () => pickZone('z1');

test('without a recover router an unhealthy explicit list is refused by the engine', () => {
  expect(decide(engineWith(INSTANCES, [strictZone()]), 'shop', request({}, Z1))).toEqual({ kind: 'reject', status: 503, body: 'no healthy instance' });
});

test('recover-all (the default) widens an unhealthy labelled choice to the whole service', () => {
  const engine = engineWith(INSTANCES, [pickLabels({ version: 'v1' }), recover({})]);
  const trace: TraceStep[] = [];
  // No labels: no envoy.lb at all, so the whole cluster serves.
  expect(decide(engine, 'shop', request(), trace)).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
  expect(trace[1]).toMatchObject({ router: 'recover', before: 1, after: 3 });
});

test('recover-all widens an unhealthy explicit list, and an empty choice, too', () => {
  expect(decide(engineWith(INSTANCES, [strictZone(), recover({ mode: 'recover-all' })]), 'shop', request({}, Z1))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
  expect(decide(engineWith(INSTANCES, [pickLabels({ version: 'v9' }), recover({})]), 'shop')).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
});

test('zero-protect keeps an unhealthy labelled choice (Envoy panic-routes within the subset)', () => {
  const engine = engineWith(INSTANCES, [pickLabels({ version: 'v1' }), recover({ mode: 'zero-protect' })]);
  expect(decide(engine, 'shop')).toEqual({ kind: 'subset', labels: { version: 'v1' } });
});

test('zero-protect sends every endpoint of an unhealthy explicit list, unhealthy ones included', () => {
  const engine = engineWith(INSTANCES, [strictZone(), recover({ mode: 'zero-protect' })]);
  expect(sortedEndpoints(decide(engine, 'shop', request({}, Z1)))).toEqual(endpoints(8001, 8002));
});

test('zero-protect leaves an empty choice to the engine and to Envoy', () => {
  expect(decide(engineWith(INSTANCES, [pickLabels({ version: 'v9' }), recover({ mode: 'zero-protect' })]), 'shop')).toEqual({ kind: 'subset', labels: { version: 'v9' } });
});

test('a choice with a healthy instance is left alone in both modes', () => {
  for (const mode of ['recover-all', 'zero-protect']) {
    expect(decide(engineWith(INSTANCES, [pickLabels({ version: 'v2' }), recover({ mode })]), 'shop')).toEqual({ kind: 'subset', labels: { version: 'v2' } });
  }
});

test('a refused config names the field and keeps the previous config', () => {
  const r = recover({ mode: 'zero-protect' });
  expect(() => r.configure({ mode: 'all' })).toThrow(/^recover\.mode: must be one of recover-all, zero-protect, got "all"/);
  expect(() => r.configure([])).toThrow(/^recover: config must be an object/);
  expect(decide(engineWith(INSTANCES, [pickLabels({ version: 'v1' }), r]), 'shop')).toEqual({ kind: 'subset', labels: { version: 'v1' } });
});
