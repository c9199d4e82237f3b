import { mergePolicies, policySteps, subsetPolicy } from '../../src/xds/selectors';
import { destination, metadataRoute, rule, ruleSnapshot, source } from './helpers';

const KEY = 'default/shop';

describe('subsetPolicy', () => {
  it('has no selectors and ANY_ENDPOINT for a service without rules', () => {
    expect(subsetPolicy(ruleSnapshot(), KEY)).toEqual({ selectors: [], keys: [], endpointMode: false });
  });

  it('takes one sorted key set per inbound destination, deduplicated, ignoring label-less destinations', () => {
    const rules = ruleSnapshot([
      rule('inbound', 'shop', [destination({ version: 'v2', env: 'gray' }), destination({ env: 'prod', version: 'v1' }), destination({})]),
      rule('inbound', 'shop', [destination({ user: 'a' })], { name: 'second' }),
      rule('inbound', 'other', [destination({ zone: 'z1' })]),
    ]);
    expect(subsetPolicy(rules, KEY).selectors).toEqual([['env', 'version'], ['user']]);
  });

  it('includes outbound rules of any caller whose sources name the service, "*", or nothing', () => {
    const rules = ruleSnapshot([
      rule('outbound', 'web', [destination({ lane: 'blue' })], { sources: [source('shop')] }),
      rule('outbound', 'api', [destination({ idc: 'x' })], { sources: [source('*', '*')] }),
      rule('outbound', 'cron', [destination({ tier: 'gold' })]),
      rule('outbound', 'web', [destination({ never: 'x' })], { sources: [source('cart')], name: 'to-cart' }),
      rule('outbound', 'web', [destination({ wrongns: 'x' })], { sources: [source('shop', 'staging')], name: 'other-ns' }),
    ]);
    expect(subsetPolicy(rules, KEY).selectors).toEqual([['idc'], ['lane'], ['tier']]);
  });

  it('adds the keys of a subset-mode metadata route, alone and joined with each rule key set', () => {
    const rules = ruleSnapshot([rule('inbound', 'shop', [destination({ env: 'a' })])], [metadataRoute('shop', ['user', 'env'])]);
    expect(subsetPolicy(rules, KEY).selectors).toEqual([['env'], ['env', 'user']]);
    const disjoint = ruleSnapshot([rule('inbound', 'shop', [destination({ version: 'v1' })])], [metadataRoute('shop', ['user'])]);
    expect(subsetPolicy(disjoint, KEY).selectors).toEqual([['user'], ['user', 'version'], ['version']]);
  });

  it('switches to endpoint mode for an endpoint-mode metadata route', () => {
    const rules = ruleSnapshot([], [metadataRoute('shop', ['user'], { mode: 'endpoint' })]);
    expect(subsetPolicy(rules, KEY)).toEqual({ selectors: [], keys: [], endpointMode: true });
  });
});

describe('router label keys (lanes, canaries)', () => {
  it('adds every combination of router keys, alone and with each rule key set', () => {
    const rules = ruleSnapshot([rule('inbound', 'shop', [destination({ version: 'gray' })])]);
    const policy = subsetPolicy(rules, KEY, ['env', 'canary']);
    expect(policy.selectors).toEqual([['canary'], ['canary', 'env'], ['canary', 'env', 'version'], ['canary', 'version'], ['env'], ['env', 'version'], ['version']]);
    expect(policy.keys).toEqual(['canary', 'env', 'version']);
  });
});

describe('cluster-switch destinations', () => {
  it('give their label keys to the target cluster, not to the rule\'s own service', () => {
    const rules = ruleSnapshot([rule('inbound', 'web', [destination({ color: 'blue' }), destination({ version: 'v2' }, { name: 'to-shop', cluster: 'shop.default' })])]);
    expect(subsetPolicy(rules, 'default/web').selectors).toEqual([['color']]);
    expect(subsetPolicy(rules, KEY).selectors).toEqual([['version']]);
  });
});

describe('mergePolicies (a change rolling out)', () => {
  const subset = subsetPolicy(ruleSnapshot([], [metadataRoute('shop', ['user'])]), KEY);
  const endpoint = subsetPolicy(ruleSnapshot([], [metadataRoute('shop', ['user'], { mode: 'endpoint' })]), KEY);

  it('serves the selectors of both rule sets', () => {
    const other = subsetPolicy(ruleSnapshot([rule('inbound', 'shop', [destination({ env: 'a' })])]), KEY);
    expect(mergePolicies([subset, other])).toEqual({ selectors: [['env'], ['user']], keys: ['env', 'user'], endpointMode: false });
  });

  it('keeps both forms while a service switches between subset and endpoint mode, either way round', () => {
    const both = { selectors: [['user']], keys: ['user'], endpointMode: true, switching: true };
    expect(mergePolicies([subset, endpoint])).toEqual(both);
    expect(mergePolicies([endpoint, subset])).toEqual(both);
    expect(mergePolicies([endpoint, endpoint])).toEqual(endpoint);
  });

  it('marks a switch from or to a service without selectors as switching too (its requests carry no envoy.lb)', () => {
    const none = subsetPolicy(ruleSnapshot(), KEY);
    expect(mergePolicies([none, endpoint])).toEqual({ selectors: [], keys: [], endpointMode: true, switching: true });
    expect(mergePolicies([endpoint, none])).toEqual({ selectors: [], keys: [], endpointMode: true, switching: true });
  });
});

describe('policySteps', () => {
  it('computes, a step at a time, the very policies subsetPolicy then answers with, equal to those computed at once', () => {
    const rules = () => ruleSnapshot([
      rule('inbound', 'shop', [destination({ version: 'v2' })]),
      rule('outbound', 'web', [destination({ lane: 'blue' })], { sources: [source('shop')] }),
      rule('outbound', 'cron', [destination({ tier: 'gold' }, { cluster: 'pay.default' })]),
    ], [metadataRoute('pay', ['user'])]);
    const keys = [KEY, 'default/pay', 'default/web'];
    const stepped = rules();
    const steps = policySteps({ rules: stepped, routerKeys: ['env'] }, keys);
    let yields = 0;
    while (!steps.next().done) yields++;
    expect(yields).toBe(3 + 3 + 2); // the index: outbound rules, then every rule; then a service per step
    // Emptied after the steps: what subsetPolicy answers now is what the steps computed and kept.
    for (const map of [stepped.inbound, stepped.outbound, stepped.metadataRoutes]) (map as Map<string, unknown>).clear();
    const atOnce = rules();
    for (const key of keys) expect(subsetPolicy(stepped, key, ['env'])).toEqual(subsetPolicy(atOnce, key, ['env']));
  });
});
