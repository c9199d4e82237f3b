import type { TraceStep } from '../../src/model/trace';
import { Registry } from '../../src/registry/registry';
import { RoutingEngine } from '../../src/routing/engine';
import { RuleRouter } from '../../src/routing/rule-router';
import { formatRuleErrors, loadRules } from '../../src/rules';
import { PRECEDENCE_RULES as RULES } from '../support/precedence-rules';
import { decide, instance, request, view } from './helpers';

function engine(): RoutingEngine {
  const loaded = loadRules(RULES, 'rules.yaml', 1);
  if (!loaded.ok) throw new Error(formatRuleErrors(loaded.errors, 'rules.yaml'));
  const registry = new Registry();
  registry.batch(() => {
    registry.upsert(instance({ service: 'dock', port: 1, metadata: { crane: 'east' } }));
    registry.upsert(instance({ service: 'dock', port: 2, metadata: { crane: 'west' } }));
  });
  const e = new RoutingEngine({ registry: registry.snapshot(), rules: loaded.snapshot });
  e.setRouters([new RuleRouter()]);
  return e;
}

test("the caller's outbound rule beats the callee's inbound rule", () => {
  expect(decide(engine(), 'dock', request({}, { service: 'harbor' }))).toMatchObject({ kind: 'subset', labels: { crane: 'west' } });
});

test("the callee's inbound rule applies when no outbound rule of the caller matches", () => {
  expect(decide(engine(), 'dock', request({}, { service: 'ferry' }))).toMatchObject({ kind: 'subset', labels: { crane: 'east' } });
  expect(decide(engine(), 'dock', request({}, { service: '' }))).toMatchObject({ kind: 'subset', labels: { crane: 'east' } });
});

test('a priority group whose instances all have weight 0 (DRAINING in xDS) fails over to the next group', () => {
  const loaded = loadRules(`
rules:
  - name: new-first
    service: shop
    destinations:
      - { name: new, labels: { track: new } }
      - { name: old, labels: { track: old }, priority: 1 }
`, 'rules.yaml', 1);
  if (!loaded.ok) throw new Error(formatRuleErrors(loaded.errors, 'rules.yaml'));
  const registry = new Registry();
  registry.upsert({ ...instance({ service: 'shop', port: 1, metadata: { track: 'new' } }), weight: 0 });
  registry.upsert(instance({ service: 'shop', port: 2, metadata: { track: 'old' } }));
  const e = new RoutingEngine({ registry: registry.snapshot(), rules: loaded.snapshot });
  e.setRouters([new RuleRouter()]);
  expect(decide(e, 'shop')).toMatchObject({ kind: 'subset', labels: { track: 'old' } });
  registry.upsert(instance({ service: 'shop', port: 1, metadata: { track: 'new' } })); // weighted again
  expect(decide(e, 'shop')).toMatchObject({ kind: 'subset', labels: { track: 'new' } });
});

test('explain says which destinations the rule passed over and why; a live request gets no such list', () => {
  const loaded = loadRules(`
rules:
  - name: tiers
    service: shop
    destinations:
      - { name: gray, labels: { track: gray } }
      - { name: paused, labels: { track: old }, isolate: true }
      - { name: new, labels: { track: new }, priority: 1 }
      - { name: spare, labels: { track: old }, priority: 1, weight: 0 }
      - { name: away, cluster: depot.default, labels: { track: old }, priority: 1 }
      - { name: old, labels: { track: old }, priority: 2 }
      - { name: older, labels: { track: older }, priority: 3 }
`, 'rules.yaml', 1);
  if (!loaded.ok) throw new Error(formatRuleErrors(loaded.errors, 'rules.yaml'));
  const registry = new Registry();
  registry.upsert({ ...instance({ service: 'shop', port: 1, metadata: { track: 'new' } }), weight: 0 });
  registry.upsert(instance({ service: 'shop', port: 2, metadata: { track: 'new' }, healthy: false }));
  registry.upsert(instance({ service: 'shop', port: 3, metadata: { track: 'old' } }));
  registry.upsert(instance({ service: 'shop', port: 4, metadata: { track: 'older' } }));
  const e = new RoutingEngine({ registry: registry.snapshot(), rules: loaded.snapshot });
  e.setRouters([new RuleRouter()]);
  const trace: TraceStep[] = [];
  expect(decide(e, 'shop', request(), trace)).toMatchObject({ kind: 'subset', labels: { track: 'old' } });
  expect(trace).toEqual([{
    router: 'rule', before: 4, after: 1, labels: { track: 'old' }, note: 'tiers',
    // Down to the chosen group (priority 2), in priority order; `older`, below it, was never asked.
    skipped: [
      { destination: 'gray', priority: 0, reason: 'no instance has track=gray' },
      { destination: 'paused', priority: 0, reason: 'isolated' },
      { destination: 'new', priority: 1, reason: 'none of the 2 instance(s) with track=new is healthy (unhealthy, or weight 0)' },
      { destination: 'spare', priority: 1, reason: 'weight 0' },
      { destination: 'away', priority: 1, reason: 'no registered service has cluster depot.default' },
    ],
  }]);
  const live = new RuleRouter().route(request(), { service: view(e, 'shop'), candidates: view(e, 'shop').all, labels: {}, rules: loaded.snapshot, registry: e.current.registry });
  expect(live).toEqual({ kind: 'narrow', candidates: expect.anything(), labels: { track: 'old' }, note: 'tiers', rule: 'tiers' });
});
