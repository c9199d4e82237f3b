import { ResourceBuilder } from '../../src/xds/builder';
import { ResourceCache } from '../../src/xds/cache';
import { CDS, EDS, LDS, RDS } from '../../src/xds/types';
import { Registry } from '../../src/registry/registry';
import { runToEnd } from '../../src/model/slices';
import { captureLogs } from '../support/logs';
import { destination, instance, metadataRoute, rule, ruleSnapshot } from './helpers';

function setup() {
  const registry = new Registry();
  registry.upsert(instance('shop', 1));
  registry.upsert(instance('cart', 2));
  const cache = new ResourceCache();
  const logs = captureLogs();
  const builder = new ResourceBuilder(cache, logs.logger);
  return { registry, cache, builder, logs };
}

/** A pass run to the end at once (the server runs it in slices). */
const buildAll = (builder: ResourceBuilder, ...args: Parameters<ResourceBuilder['buildSteps']>) => runToEnd(builder.buildSteps(...args));

const changed = (c: ReadonlyMap<unknown, ReadonlySet<string>>, t: unknown): string[] => [...(c.get(t) ?? [])].sort();

describe('ResourceBuilder', () => {
  it('builds a Cluster, CLA, Listener and RouteConfiguration per service', () => {
    const { registry, builder } = setup();
    const c = buildAll(builder, registry.snapshot(), ruleSnapshot(), [], 'all');
    for (const t of [CDS, EDS, LDS, RDS]) expect(changed(c, t)).toEqual(['cart.default', 'shop.default']);
  });

  it('gives new versions only to what changed', () => {
    const { registry, builder, cache } = setup();
    const rules = ruleSnapshot();
    buildAll(builder, registry.snapshot(), rules, [], 'all');
    const cartVersion = cache.get(EDS, 'cart.default')!.version;
    const edsVersion = cache.version(EDS);

    registry.upsert(instance('shop', 3));
    let c = buildAll(builder, registry.snapshot(), rules, [], new Set(['default/shop']));
    expect([...c.keys()]).toEqual([EDS]);
    expect(changed(c, EDS)).toEqual(['shop.default']);
    expect(cache.get(EDS, 'cart.default')!.version).toBe(cartVersion);
    expect(Number(cache.version(EDS))).toBeGreaterThan(Number(edsVersion));

    // Same instances again (a re-registration): a change to re-check, but the same version, so streams send nothing.
    const shopVersion = cache.get(EDS, 'shop.default')!.version;
    registry.upsert(instance('shop', 3));
    expect(changed(buildAll(builder, registry.snapshot(), rules, [], new Set(['default/shop'])), EDS)).toEqual(['shop.default']);
    expect(cache.get(EDS, 'shop.default')!.version).toBe(shopVersion);

    // A rules change rebuilds every cluster but only the affected one gets a new version; its
    // CLA too, because its endpoints now carry the new selector key (as "", they lack it).
    c = buildAll(builder, registry.snapshot(), ruleSnapshot([rule('inbound', 'cart', [destination({ env: 'a' })])]), [], 'all');
    expect([...c.keys()]).toEqual([CDS, EDS]);
    expect(changed(c, CDS)).toEqual(['cart.default']);
    expect(changed(c, EDS)).toEqual(['cart.default']);
  });

  it('serves rule-only services and removes them with their rules; endpoint mode keeps the CLA', () => {
    const { registry, builder, cache } = setup();
    buildAll(builder, registry.snapshot(), ruleSnapshot([], [metadataRoute('later', ['user'])]), [], 'all');
    expect(cache.get(CDS, 'later.default')).toBeDefined();
    expect(cache.get(EDS, 'later.default')).toBeDefined();

    const c = buildAll(builder, registry.snapshot(), ruleSnapshot([], [metadataRoute('shop', ['user'], { mode: 'endpoint' })]), [], 'all');
    expect(changed(c, CDS)).toEqual(['later.default', 'shop.default']);
    expect(changed(c, EDS)).toEqual(['later.default']);
    expect(cache.get(CDS, 'later.default')).toBeUndefined();
    // override_host picks among the cluster's EDS hosts: the endpoints stay.
    expect(cache.get(EDS, 'shop.default')).toBeDefined();
    expect(cache.get(CDS, 'shop.default')).toBeDefined();
  });

  it('logs endpoints it has to leave out', () => {
    const { registry, builder, logs, cache } = setup();
    registry.upsert(instance('shop', 4, { host: 'shop-4.internal' }));
    buildAll(builder, registry.snapshot(), ruleSnapshot(), [], 'all');
    expect(logs.records()).toEqual([]); // nothing built before a stream reads it
    void cache.get(EDS, 'shop.default')!.any;
    expect(logs.records()).toMatchObject([{ level: 'warn', event: 'xds.endpoints.skipped', cluster: 'shop.default', count: 1, examples: ['shop-4.internal:4 (not an IP address)'] }]);
  });

  it('encodes a ClusterLoadAssignment only when it is read, and then once per change', () => {
    const { registry, builder, cache } = setup();
    buildAll(builder, registry.snapshot(), ruleSnapshot(), [], 'all');
    const shop = cache.get(EDS, 'shop.default')!;
    expect(shop.built).toBe(false);
    for (let port = 10; port < 20; port++) {
      registry.upsert(instance('shop', port));
      buildAll(builder, registry.snapshot(), ruleSnapshot(), [], new Set(['default/shop']));
    }
    expect(cache.get(EDS, 'shop.default')!.built).toBe(false);
    expect(cache.get(EDS, 'cart.default')!.built).toBe(false);
    expect(cache.get(EDS, 'shop.default')!.any.length).toBeGreaterThan(0);
    expect(cache.get(EDS, 'shop.default')!.built).toBe(true);
  });
});
