import { performance } from 'node:perf_hooks';
import { MetricsRegistry } from '../../src/metrics/metrics';
import { runInSlices, type Steps } from '../../src/model/slices';
import { Registry } from '../../src/registry/registry';
import { XdsServer, type XdsSources } from '../../src/xds';
import * as resources from '../../src/xds/resources';
import type { SelectorBasis } from '../../src/xds/selectors';
import { CDS } from '../../src/xds/types';
import { captureLogs } from '../support/logs';
import { TYPE, XdsTestClient, destination, instance, names, rule, ruleSnapshot, startXds, type Harness, type Response } from './helpers';

/** Spends this turn's shared slice budget (model/slices.ts), as any sliced job under way (a store sync, a CLA build) does. */
function spendBudget(): void {
  void runInSlices((function* (): Steps<void> {
    const start = performance.now();
    while (performance.now() - start < 2) { /* busy */ }
  })());
}

/** What the debouncer's timer does (a registry change, or 'all'). */
function debounced(xds: XdsServer, changed: ReadonlySet<string> | 'all'): void {
  (xds as unknown as { rebuildInSlices(c: ReadonlySet<string> | 'all', since: number): void }).rebuildInSlices(changed, Date.now());
}

/** An XdsServer over a registry holding shop, its held selectors set by the test (app/rollout.ts sets them). */
function server(held: { value: readonly SelectorBasis[] }) {
  const registry = new Registry();
  registry.upsert(instance('shop', 8000, { metadata: { version: 'v1' } }));
  const rules = ruleSnapshot();
  const sources: XdsSources = {
    registry: () => registry.snapshot(),
    rules: () => rules,
    heldSelectors: () => held.value,
    subscribe: () => () => undefined,
  };
  const xds = new XdsServer(sources, { debounceMs: 1000, maxDebounceMs: 1000, metrics: new MetricsRegistry(), log: captureLogs().logger });
  return { xds, rules, registry };
}

const grayRules = ruleSnapshot([rule('inbound', 'shop', [destination({ version: 'gray' })])]);

describe('rebuildNow beside a debounced pass', () => {
  test.each([
    ['no debounced pass pending', false],
    ['a debounced pass that has not taken its first step (the turn\'s slice budget was spent)', true],
  ])("names every cluster the rollout's held selectors changed (%s): the rollout waits for those", (_what, pending) => {
    const held = { value: [] as readonly SelectorBasis[] };
    const { xds, rules } = server(held);
    try {
      if (pending) {
        spendBudget();
        debounced(xds, new Set(['default/shop'])); // queued for the next turn's budget
      }
      // app/rollout.ts: hold both bases, rebuildNow, then await the Clusters it names.
      held.value = [{ rules, routerKeys: [] }, { rules: grayRules, routerKeys: [] }];
      expect([...(xds.rebuildNow().get(CDS) ?? [])]).toEqual(['shop.default']);
    } finally {
      xds.close();
    }
  });

  test('after close it builds nothing, and a pass under way stops', async () => {
    const held = { value: [] as readonly SelectorBasis[] };
    const { xds, rules, registry } = server(held);
    for (let i = 0; i < 500; i++) registry.upsert(instance(`svc-${i}`, 8000));
    spendBudget();
    debounced(xds, 'all');
    xds.close();
    held.value = [{ rules, routerKeys: [] }, { rules: grayRules, routerKeys: [] }];
    expect(xds.rebuildNow().size).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([0, 499].map((i) => xds.serves('clusters', `svc-${i}.default`))).toEqual([false, false]);
  });
});

describe('a pass in which one service fails', () => {
  let h: Harness;
  let client: XdsTestClient | undefined;
  afterEach(async () => {
    jest.restoreAllMocks();
    client?.close();
    await h.close();
  });
  const ack = (c: XdsTestClient, r: Response) => c.send({ type_url: r.type_url, response_nonce: r.nonce });

  test("still pushes the other services' changes (they are in the cache, and no later pass names them again)", async () => {
    h = await startXds({ debounceMs: 5 });
    h.registry.upsert(instance('shop', 9001));
    await new Promise((resolve) => setTimeout(resolve, 50));
    client = new XdsTestClient(h.port, 'delta');
    client.send({ node: { id: 'd1' }, type_url: TYPE.EDS, resource_names_subscribe: ['shop.default'] });
    const first = await client.next();
    expect(first.resources[0]!.message.endpoints[0].lb_endpoints).toHaveLength(1);
    ack(client, first);

    const real = resources.buildCluster;
    jest.spyOn(resources, 'buildCluster').mockImplementation((name, policy) => {
      if (name === 'bad.default') throw new Error('cannot build');
      return real(name, policy);
    });
    h.registry.upsert(instance('shop', 9002)); // one pass: shop, then bad
    h.registry.upsert(instance('bad', 9101));
    const update = await client.next();
    expect(names(update)).toEqual(['shop.default']);
    expect(update.resources[0]!.message.endpoints[0].lb_endpoints).toHaveLength(2);
    expect(h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['event'] === 'xds.rebuild.failed')).toMatchObject({ services: 1, examples: ['default/bad'] });

    // The failed service is tried again by the next pass over it.
    jest.restoreAllMocks();
    h.registry.upsert(instance('bad', 9102));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(h.xds.serves('clusters', 'bad.default')).toBe(true);
  });
});
