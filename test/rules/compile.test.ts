import type { CompiledRule, RuleSnapshot } from '../../src/model/rule';
import { formatRuleErrors, loadRules } from '../../src/rules';

function load(text: string, version = 1): RuleSnapshot {
  const result = loadRules(text, 'rules.yaml', version);
  if (!result.ok) throw new Error(formatRuleErrors(result.errors, 'rules.yaml'));
  return result.snapshot;
}

const TEXT = `
rules:
  - name: staff-to-gray
    service: shop
    sources:
      - service: web
        namespace: prod
        arguments:
          - type: header
            key: X-User-Role
            match: { type: EXACT, value: staff }
          - type: method
            match: { type: IN, value: "GET,HEAD" }
      - arguments:
          - type: query
            key: Beta
            match: { type: EXISTS }
    destinations:
      - { name: gray-a, labels: { version: gray, zone: a }, priority: 1, weight: 30 }
      - { name: blue, labels: { version: blue }, priority: 3 }
      - { name: quarantine, labels: { version: bad }, isolate: true }
      - { name: gray-b, labels: { version: gray, zone: b }, priority: 1, weight: 70 }
    failover: blue
    stickyBy: { type: header, key: X-User-Id }
  - name: second
    service: shop
    destinations: [{ name: any, labels: { version: base } }]
    failover: none
  - name: calls-from-shop
    service: shop
    namespace: prod
    direction: outbound
    sources:
      - service: pay
        arguments:
          - { type: cookie, key: UID, match: { type: REGEX, value: "[02468]$" } }
    destinations: [{ name: even, labels: { parity: even } }]
metadataRoutes:
  - service: aigc
    keys: [user, session]
    failover: others
    mode: endpoint
  - service: aigc
    namespace: staging
    keys: [user]
`;

describe('compileRules', () => {
  const snapshot = load(TEXT, 42);

  test('maps are keyed by serviceKey, rules kept in file order', () => {
    expect(snapshot.version).toBe(42);
    expect([...snapshot.inbound.keys()]).toEqual(['default/shop']);
    expect(snapshot.inbound.get('default/shop')!.map((r) => r.name)).toEqual(['staff-to-gray', 'second']);
    expect([...snapshot.outbound.keys()]).toEqual(['prod/shop']);
    expect(snapshot.outbound.get('prod/shop')!.map((r) => r.direction)).toEqual(['outbound']);
    expect([...snapshot.metadataRoutes.keys()]).toEqual(['default/aigc', 'staging/aigc']);
    expect(snapshot.metadataRoutes.get('default/aigc')).toEqual({
      service: 'aigc', namespace: 'default', keys: ['user', 'session'], failover: 'others', mode: 'endpoint', from: 'request',
    });
    expect(snapshot.metadataRoutes.get('staging/aigc')).toEqual({
      service: 'aigc', namespace: 'staging', keys: ['user'], failover: 'none', mode: 'subset', from: 'request',
    });
  });

  test('priority groups: non-isolated, ascending priority, file order within a group', () => {
    const rule = snapshot.inbound.get('default/shop')![0];
    expect(rule.priorityGroups.map((g) => g.map((d) => d.name))).toEqual([['gray-a', 'gray-b'], ['blue']]);
    expect(rule.destinations.map((d) => d.name)).toEqual(['gray-a', 'blue', 'quarantine', 'gray-b']);
    expect(rule.destinations[2]).toEqual({ name: 'quarantine', labels: { version: 'bad' }, priority: 0, weight: 100, isolate: true });
    expect(rule.priorityGroups[0][1]).toEqual({ name: 'gray-b', labels: { version: 'gray', zone: 'b' }, priority: 1, weight: 70, isolate: false });
  });

  test('failover and stickiness', () => {
    const [first, second] = snapshot.inbound.get('default/shop')!;
    const outbound = snapshot.outbound.get('prod/shop')![0];
    expect(first.failover).toEqual({ kind: 'group', name: 'blue' });
    expect(second.failover).toEqual({ kind: 'none' });
    expect(outbound.failover).toEqual({ kind: 'all' });
    // Header names are lower-cased to match what Envoy sends; other keys keep their case.
    expect(first.stickyBy).toEqual({ type: 'header', key: 'x-user-id' });
    expect('stickyBy' in second).toBe(false);
  });

  test('sources compile to label sources and working tests', () => {
    const rule: CompiledRule = snapshot.inbound.get('default/shop')![0];
    expect(rule.sources.map((s) => [s.service, s.namespace])).toEqual([['web', 'prod'], ['*', '*']]);
    const [role, method] = rule.sources[0].arguments;
    expect(role.source).toEqual({ type: 'header', key: 'x-user-role' });
    expect(role.test('staff')).toBe(true);
    expect(role.test('guest')).toBe(false);
    expect(method.source).toEqual({ type: 'method', key: '' });
    expect(method.test('HEAD')).toBe(true);
    expect(method.test('POST')).toBe(false);
    const beta = rule.sources[1].arguments[0];
    expect(beta.source).toEqual({ type: 'query', key: 'Beta' });
    expect(beta.test('')).toBe(true);
    expect(beta.test(undefined)).toBe(false);

    const uid = snapshot.outbound.get('prod/shop')![0].sources[0].arguments[0];
    expect(uid.source).toEqual({ type: 'cookie', key: 'UID' });
    expect(uid.test('user-1234')).toBe(true);
    expect(uid.test('user-1235')).toBe(false);
  });

  test('a rule without sources has none (it applies to every request)', () => {
    expect(snapshot.inbound.get('default/shop')![1].sources).toEqual([]);
  });

  test('source is the validated document with defaults, as written (header keys not lower-cased)', () => {
    const source = snapshot.source as { rules: { namespace: string; sources: { arguments: { key?: string }[] }[] }[] };
    expect(source.rules[0].namespace).toBe('default');
    expect(source.rules[0].sources[0].arguments[0].key).toBe('X-User-Role');
    expect(JSON.parse(JSON.stringify(source))).toEqual(source);
  });

  test('YAML anchors and aliases share label maps', () => {
    const s = load(`
rules:
  - name: r
    service: s
    destinations:
      - { name: a, labels: &gray { version: gray } }
      - { name: b, labels: *gray, priority: 1 }
`);
    expect(s.inbound.get('default/s')![0].priorityGroups.map((g) => g[0].labels)).toEqual([{ version: 'gray' }, { version: 'gray' }]);
  });
});
