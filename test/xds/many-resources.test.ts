import { CachedResource, ResourceCache, type BuildFailure } from '../../src/xds/cache';
import * as resources from '../../src/xds/resources';
import { assignmentSteps, encodeAssignment } from '../../src/xds/resources';
import type { Steps } from '../../src/model/slices';
import { EDS } from '../../src/xds/types';
import { TYPE, XdsTestClient, destination, eventually, instance, names, rule, ruleSnapshot, startXds, type Dump, type Harness, type Response } from './helpers';

/** One registration batch over thousands of services, each its own cluster (docs/PERFORMANCE.md, "One call over many services"). */
describe('changes over thousands of services', () => {
  let h: Harness;
  let client: XdsTestClient | undefined;
  afterEach(async () => {
    client?.close();
    await h.close();
  });

  /**
   * A server with 3,000 services of one instance each, every assignment built before (by the
   * config dump), so a diff finds them ready and none goes through a build.
   */
  async function builtServices(): Promise<{ services: string[]; clusters: string[] }> {
    h = await startXds();
    const services = Array.from({ length: 3000 }, (_, i) => `svc-${i}`);
    for (const service of services) h.registry.upsert(instance(service, 8000, { id: `${service}-0`, host: '10.0.0.1' }));
    h.xds.rebuildNow();
    const clusters = services.map((s) => `${s}.default`);
    for (const cluster of clusters) await h.xds.resource('endpoints', cluster);
    return { services, clusters };
  }

  it('a debounced pass over 3,000 new services runs in slices; rebuildNow finishes one under way and pushes its changes', async () => {
    h = await startXds({ debounceMs: 1 });
    client = new XdsTestClient(h.port, 'sotw', 'ads');
    client.send({ type_url: TYPE.CDS, resource_names: [] });
    client.ack(await client.next(), []);

    const services = Array.from({ length: 3000 }, (_, i) => `svc-${i}`);
    for (const service of services) h.registry.upsert(instance(service, 8000, { id: `${service}-0`, host: '10.0.0.1' }));
    const served = (): number => services.filter((s) => h.xds.serves('clusters', `${s}.default`)).length;
    let seenPartial = false;
    for (let turn = 0; turn < 100_000 && served() < services.length; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      const count = served();
      if (count > 0 && count < services.length) {
        seenPartial = true; // other turns ran while the pass was under way
        break;
      }
    }
    expect(seenPartial).toBe(true);

    h.xds.rebuildNow();
    expect(served()).toBe(services.length);
    // SotW CDS carries every cluster: the newest response holds all of them.
    let latest: string[] = [];
    while (latest.length < services.length) {
      const response = await client.next(10_000);
      client.ack(response, []);
      latest = names(response);
    }
    expect(latest.sort()).toEqual(services.map((s) => `${s}.default`).sort());
  }, 60_000);

  it('a response over 3,000 names is computed in slices; a change arriving meanwhile goes out in the next response, not lost', async () => {
    const { clusters } = await builtServices();
    client = new XdsTestClient(h.port, 'sotw', 'ads');
    client.send({ type_url: TYPE.EDS, resource_names: clusters });
    const computing = (): boolean => (h.xds.configDump() as Dump).streams[0]?.types.eds?.computing_response === true;
    for (let turn = 0; turn < 100_000 && !computing(); turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(computing()).toBe(true);

    // svc-0 was among the first names the diff looked at: its change comes after.
    h.registry.upsert(instance('svc-0', 9999, { id: 'svc-0-0', host: '10.0.0.1' }));
    h.xds.rebuildNow();
    const held = new Map<string, unknown>();
    const port = (): unknown => JSON.stringify(held.get('svc-0.default') ?? '').match(/"port_value":(\d+)/)?.[1];
    while (held.size < clusters.length || port() !== '9999') {
      const response = await client.next(10_000);
      for (const resource of response.resources) held.set(resource.name, resource.message);
      client.ack(response, clusters);
    }
    expect(port()).toBe('9999');
  }, 60_000);

  it('a response over 3,000 names whose diff fails lets go of every resource it held, and the next response carries the resends it took', async () => {
    const { services, clusters } = await builtServices();
    client = new XdsTestClient(h.port, 'delta', 'ads');
    const c = client;
    const ack = (response: Response): void => c.send({ type_url: response.type_url, response_nonce: response.nonce });
    const readUntil = async (want: readonly string[]): Promise<Set<string>> => {
      const seen = new Set<string>();
      while (!want.every((name) => seen.has(name))) {
        const response = await c.next(10_000);
        for (const name of names(response)) seen.add(name);
        ack(response);
      }
      return seen;
    };
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: clusters });
    await readUntil(clusters);

    // The diff of the next response looks up 2,000 names, holding each one the client is to get again, and then fails.
    const lookedUp: CachedResource[] = [];
    const get = ResourceCache.prototype.get;
    let lookups = 0;
    const spy = jest.spyOn(ResourceCache.prototype, 'get').mockImplementation(function (this: ResourceCache, type, name) {
      if (type === EDS && ++lookups === 2000) throw new Error('lookup failed');
      const found = get.call(this, type, name);
      if (type === EDS && found) lookedUp.push(found);
      return found;
    });
    try {
      // Names subscribed again are resent (the client may have forgotten them).
      c.send({ type_url: TYPE.EDS, resource_names_subscribe: clusters });
      await eventually(() => h.logs.some((line) => line.includes('"xds.diff.failed"')), 10_000, 'the diff to fail');
    } finally {
      spy.mockRestore();
    }
    expect(lookedUp.length).toBe(1999);

    // A change of one: the next responses carry it and every resend the failed diff took.
    h.registry.upsert(instance('svc-0', 9999, { id: 'svc-0-0', host: '10.0.0.1' }));
    h.xds.rebuildNow();
    expect((await readUntil(clusters)).size).toBe(clusters.length);

    // Every version it looked up goes once its service does: nothing holds its bytes any more.
    for (const service of services) h.registry.remove('default', service, `${service}-0`);
    h.xds.rebuildNow();
    const recycled = (resource: CachedResource): boolean => {
      try {
        void resource.any;
        return false;
      } catch {
        return true;
      }
    };
    await eventually(() => lookedUp.every(recycled), 10_000, 'every version looked up to be given back');
  }, 60_000);

  it('a wildcard CDS response sent while a pass is under way records the clusters it carried: a changed one gets its CLA again, and a change back is sent', async () => {
    // Both rule sets give every cluster the selector keys a and b (its CLA stays the same bytes), in other selectors.
    const split = ruleSnapshot([rule('outbound', 'caller', [destination({ a: '1' }), destination({ b: '1' })])]);
    const joined = ruleSnapshot([rule('outbound', 'caller', [destination({ a: '1', b: '1' })])]);
    h = await startXds({ rules: split });
    const services = Array.from({ length: 2000 }, (_, i) => `svc-${i}`);
    for (const service of services) h.registry.upsert(instance(service, 8000, { id: `${service}-0`, host: '10.0.0.1', metadata: { a: '1', b: '1' } }));
    h.xds.rebuildNow();
    client = new XdsTestClient(h.port, 'sotw', 'ads');
    const c = client;
    const cluster = (response: Response, name: string): Buffer | undefined => response.resources.find((r) => r.name === name)?.bytes;
    c.send({ type_url: TYPE.CDS, resource_names: [] });
    const first = await c.next(10_000);
    c.send({ type_url: TYPE.EDS, resource_names: ['svc-0.default'] });
    c.ack(await c.next(), ['svc-0.default']);

    // A new cluster waits for the answer to `first`; that answer reaches the server once the pass over every cluster has begun.
    h.registry.upsert(instance('late', 8000));
    h.xds.rebuildNow();
    const build = resources.buildCluster;
    let answered = false;
    jest.spyOn(resources, 'buildCluster').mockImplementation((name, policy) => {
      if (!answered) c.ack(first, []);
      answered = true;
      return build(name, policy);
    });
    h.setRules(joined);
    const mid = await c.next(10_000);
    jest.restoreAllMocks();
    expect(mid.type_url).toBe(TYPE.CDS);
    expect(cluster(mid, 'late.default')).toBeDefined();
    expect(cluster(mid, 'svc-0.default')).not.toEqual(cluster(first, 'svc-0.default')); // the pass's first cluster changed
    expect(cluster(mid, 'svc-1999.default')).toEqual(cluster(first, 'svc-1999.default')); // its last not yet

    // Envoy re-warms svc-0 and answers `mid` only once it has svc-0's CLA: it is resent.
    const resent = await c.next(3000);
    expect([resent.type_url, names(resent)]).toEqual([TYPE.EDS, ['svc-0.default']]);
    c.ack(resent, ['svc-0.default']);

    // Before Envoy answers `mid`, the pass ends and the rules go back: svc-0 is again what `first` carried, which Envoy no longer holds.
    h.setRules(split);
    h.xds.rebuildNow();
    c.ack(mid, []);
    const back = await c.next(3000);
    expect(back.type_url).toBe(TYPE.CDS);
    expect(cluster(back, 'svc-0.default')).toEqual(cluster(first, 'svc-0.default'));
  }, 60_000);
});

/** A lazy build of `name`'s assignment, one instance; `onBuild` hears of each build started. */
const oneInstance = (name: string, onBuild: () => void = () => undefined) => function* (): Steps<Uint8Array> {
  onBuild();
  const service = name.split('.')[0]!;
  return (yield* assignmentSteps(name, [instance(service, 8000, { id: `${service}-0`, host: '10.0.0.1' })])).any;
};

describe('ResourceCache.prepareAll', () => {

  it('builds never-built resources in one job, told once with those built and the failures apart; one build at a time per resource', async () => {
    const cache = new ResourceCache();
    const small = Array.from({ length: 500 }, (_, i) => `s${i}.default`);
    for (const name of small) cache.putLazy(EDS, name, oneInstance(name));
    cache.putLazy(EDS, 'broken.default', function* (): Steps<Uint8Array> {
      yield;
      throw new Error('no endpoints today');
    });
    cache.put(EDS, 'ready.default', encodeAssignment('ready.default', []).any);

    const told: { names: readonly string[]; failures: readonly BuildFailure[] }[] = [];
    cache.prepareAll(EDS, [...small, 'broken.default', 'ready.default', 'gone.default'], (names, failures) => told.push({ names, failures }));
    expect(told).toEqual([]); // never within the caller's loop
    expect(cache.get(EDS, 's499.default')!.ready).toBe(false); // 500 builds take more than one turn's slice budget
    // Under way in the job: no second build, the job's end is awaited.
    const single = cache.prepare(EDS, 's499.default');
    expect(cache.prepare(EDS, 's498.default')).toBe(single);
    await single;
    expect(cache.get(EDS, 's499.default')!.ready).toBe(true);

    while (told.length < 2) await new Promise((resolve) => setImmediate(resolve));
    expect(told).toHaveLength(2);
    const [settled, job] = [told.find((t) => t.names.includes('ready.default'))!, told.find((t) => t.names.includes('s0.default'))!];
    expect([...settled.names].sort()).toEqual(['gone.default', 'ready.default']);
    expect(job.names).toEqual(small);
    expect(job.failures.map((f) => [f.name, f.error.message])).toEqual([['broken.default', expect.stringMatching(/no endpoints today/)]]);
    for (const name of small) expect(cache.get(EDS, name)!.ready).toBe(true);
  });
});

describe('ResourceCache.prepareAll over changes', () => {
  let builds = 0;
  const counted = (name: string) => oneInstance(name, () => builds++);

  it('builds the version current when the job reaches a name: none for a resource removed meanwhile, one for one replaced', async () => {
    const cache = new ResourceCache();
    const all = Array.from({ length: 1000 }, (_, i) => `s${i}.default`);
    for (const name of all) cache.putLazy(EDS, name, counted(name));
    let ended: readonly string[] | undefined;
    builds = 0;
    cache.prepareAll(EDS, all, (names) => (ended = names));
    const early = builds;
    // A deregistration batch removes half, a registration batch replaces the other half, while the job runs.
    for (const [i, name] of all.entries()) if (i % 2 === 0) cache.remove(EDS, name); else cache.putLazy(EDS, name, counted(name));
    while (!ended) await new Promise((resolve) => setImmediate(resolve));
    expect(ended).toEqual(all); // every name re-checked: the removed ones as gone
    // The replaced ones' current versions, once each: those the first slice had reached (`early`) are left to the callers' re-check.
    expect(builds - early).toBeLessThanOrEqual(all.length / 2);
    expect(all.filter((name, i) => i % 2 === 0 && cache.get(EDS, name))).toEqual([]);
    expect(all.filter((name, i) => i % 2 === 1 && !cache.get(EDS, name)!.ready).length).toBeLessThanOrEqual(early);
  });

  it('a second caller asking for names a job builds already is told once, when that job ends', async () => {
    const cache = new ResourceCache();
    const all = Array.from({ length: 1000 }, (_, i) => `s${i}.default`);
    for (const name of all) cache.putLazy(EDS, name, counted(name));
    const first: (readonly string[])[] = [];
    const second: (readonly string[])[] = [];
    cache.prepareAll(EDS, all, (names) => first.push(names));
    const building = all.filter((name) => !cache.get(EDS, name)!.ready);
    expect(building.length).toBeGreaterThan(0);
    cache.prepareAll(EDS, building, (names) => second.push(names));
    while (first.length === 0 || second.length === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(second).toEqual([building]);
  });
});
