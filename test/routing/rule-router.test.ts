import { Registry } from '../../src/registry/registry';
import { RoutingEngine } from '../../src/routing/engine';
import { RuleRouter } from '../../src/routing/rule-router';
import { formatRuleErrors, loadRules } from '../../src/rules';
import { PRECEDENCE_RULES as RULES } from '../support/precedence-rules';
import { decide, instance, request } from './helpers';

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
