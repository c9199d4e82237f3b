import { ResourceCache } from '../../src/xds/cache';
import { assignmentSteps, encodeAssignment } from '../../src/xds/resources';
import { runInSlices, runToEnd, type Steps } from '../../src/model/slices';
import { EDS } from '../../src/xds/types';
import { turnsDuring } from '../support/turns';
import { TYPE, XdsTestClient, instance, startXds, type Harness } from './helpers';

/** Instances on distinct IPv4 addresses, in an order that is not the sorted one. */
function manyInstances(service: string, count: number, version = 'v1'): ReturnType<typeof instance>[] {
  return Array.from({ length: count }, (_, i) => {
    const n = (i * 7919) % count; // a permutation of 0..count-1 (7919 is prime, count is not a multiple)
    return instance(service, 8000 + (n % 1000), { id: `${service}-${n}`, host: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, metadata: { version } });
  });
}

describe('building large resources in slices', () => {
  it('a ClusterLoadAssignment built in slices is the same bytes as one built at once, and other work runs between the slices', async () => {
    const instances = manyInstances('big', 30_000);
    const atOnce = encodeAssignment('big.default', instances, ['version']).any;
    let sliced: Uint8Array | undefined;
    const build = (function* (): Steps<void> {
      sliced = (yield* assignmentSteps('big.default', instances, ['version'])).any;
    })();
    const turns = await turnsDuring(runInSlices(build));
    expect(Buffer.compare(Buffer.from(sliced!), Buffer.from(atOnce))).toBe(0);
    expect(turns).toBeGreaterThan(1);
  });

  it('endpoints encoded for the first time take smaller steps than endpoints encoded before, and smaller the more selector keys they carry', () => {
    const stepsOf = (instances: ReturnType<typeof manyInstances>, keys: string[]): number => {
      const steps = assignmentSteps('big.default', instances, keys);
      let count = 0;
      while (!steps.next().done) count++;
      return count;
    };
    const instances = manyInstances('big', 10_000);
    const first = stepsOf(instances, ['version']);
    const again = stepsOf(instances, ['version']); // each endpoint's bytes kept from the first build
    const otherKeys = stepsOf(instances, ['zone']); // other selector keys: every endpoint encoded again
    // A fresh encode weighs 16 endpoints in a step of 1,024: about 64 per step, where 1,024 kept ones fit.
    expect(first - again).toBeGreaterThanOrEqual(10_000 / 64 - 10_000 / 1024 - 2);
    expect(otherKeys).toBe(first);
    // Each selector key is written into every endpoint: 160 of them weigh an encode 11 times as much.
    const manyKeys = stepsOf(instances, Array.from({ length: 160 }, (_, i) => `k${i}`));
    expect(manyKeys).toBeGreaterThanOrEqual(first * 7); // the encodes; the sort and grouping steps stay
  });

  it('the registry may change the instances between slices: the build uses them as they were when it started', () => {
    const instances = manyInstances('big', 5000);
    const expected = encodeAssignment('big.default', instances).any;
    const steps = assignmentSteps('big.default', instances);
    steps.next();
    instances.splice(0, 2500);
    expect(Buffer.compare(Buffer.from(runToEnd(steps).any), Buffer.from(expected))).toBe(0);
  });

  it('while the current version builds, streams may send the newest ready one; a version finishing late never replaces a newer one', async () => {
    const cache = new ResourceCache();
    const lazy = (count: number, version: string) => function* (): Steps<Uint8Array> {
      return (yield* assignmentSteps('big.default', manyInstances('big', count, version))).any;
    };
    cache.putLazy(EDS, 'big.default', lazy(10, 'v1'));
    await cache.get(EDS, 'big.default')!.prepare();
    const v1 = cache.servable(EDS, 'big.default')!;
    expect(v1.ready).toBe(true);

    cache.putLazy(EDS, 'big.default', lazy(20_000, 'v2'));
    const v2 = cache.get(EDS, 'big.default')!;
    expect(v2.ready).toBe(false);
    expect(cache.servable(EDS, 'big.default')).toBe(v1);

    cache.putLazy(EDS, 'big.default', lazy(10, 'v3'));
    const v3 = cache.get(EDS, 'big.default')!;
    const v2Ready = v2.prepare();
    await v3.prepare(); // small: done first
    expect(cache.servable(EDS, 'big.default')).toBe(v3);
    await v2Ready;
    expect(cache.servable(EDS, 'big.default')).toBe(v3);

    cache.remove(EDS, 'big.default');
    expect(cache.servable(EDS, 'big.default')).toBeUndefined();
  });

  it('builds one version of a resource at a time: a version put while one builds waits for the next prepare', async () => {
    const cache = new ResourceCache();
    const lazy = (version: string) => function* (): Steps<Uint8Array> {
      return (yield* assignmentSteps('big.default', manyInstances('big', 20_000, version))).any;
    };
    cache.putLazy(EDS, 'big.default', lazy('v1'));
    const v1 = cache.get(EDS, 'big.default')!;
    const first = cache.prepare(EDS, 'big.default');
    cache.putLazy(EDS, 'big.default', lazy('v2'));
    const v2 = cache.get(EDS, 'big.default')!;
    expect(cache.prepare(EDS, 'big.default')).toBe(first);
    await first;
    expect([v1.ready, v2.ready]).toEqual([true, false]);
    expect(cache.servable(EDS, 'big.default')).toBe(v1);
    await cache.prepare(EDS, 'big.default');
    expect(cache.servable(EDS, 'big.default')).toBe(v2);
  });

  it('after a long build, the next build of the same resource waits (a small one is otherwise ready at once)', async () => {
    const cache = new ResourceCache();
    const lazy = (count: number) => function* (): Steps<Uint8Array> {
      return (yield* assignmentSteps('big.default', manyInstances('big', count))).any;
    };
    cache.putLazy(EDS, 'small.default', lazy(10));
    void cache.prepare(EDS, 'small.default');
    expect(cache.get(EDS, 'small.default')!.ready).toBe(true);

    cache.putLazy(EDS, 'big.default', lazy(50_000)); // far more than 10 ms of work
    await cache.prepare(EDS, 'big.default');
    cache.putLazy(EDS, 'big.default', lazy(10));
    const next = cache.prepare(EDS, 'big.default');
    expect(cache.get(EDS, 'big.default')!.ready).toBe(false);
    await next;
    expect(cache.get(EDS, 'big.default')!.ready).toBe(true);
  });

  it('after a large build that was quick, the next build of it still rests by its size (2 MB: about 250 ms)', async () => {
    const cache = new ResourceCache();
    const bytes = (fill: number) => function* (): Steps<Uint8Array> {
      return new Uint8Array(2 * 1024 * 1024).fill(fill); // only hashing it takes time: a few ms
    };
    cache.putLazy(EDS, 'big.default', bytes(1));
    await cache.prepare(EDS, 'big.default');
    cache.putLazy(EDS, 'big.default', bytes(2));
    const started = performance.now();
    await cache.prepare(EDS, 'big.default');
    expect(cache.get(EDS, 'big.default')!.ready).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
  });
});

describe('a large cluster over ADS', () => {
  let h: Harness;
  let client: XdsTestClient | undefined;
  afterEach(async () => {
    client?.close();
    await h.close();
  });

  it('under changes more frequent than a build takes, a subscribed stream still gets newer assignments while they go on', async () => {
    h = await startXds();
    for (const i of manyInstances('big', 50_000)) h.registry.upsert(i);
    client = new XdsTestClient(h.port, 'sotw', 'ads');
    client.send({ type_url: TYPE.EDS, resource_names: ['big.default'] });
    const first = await client.next(30_000);
    client.ack(first, ['big.default']);

    // A change every 25 ms for 6 s: each rebuild is superseded before a 50,000-endpoint build
    // ends, and after each build the next rests (three times as long as it kept the thread busy,
    // at least 1 ms per 8 KiB built).
    // (Decoding each 4 MB push holds this process's loop too, so the changes come less often.)
    const received: string[] = [];
    let changing = true;
    const changes = (async () => {
      for (let n = 0, end = Date.now() + 6000; Date.now() < end; n++) {
        h.registry.upsert(instance('big', 9000, { id: 'big-moving', host: '10.200.0.1', weight: 1 + n }));
        await new Promise((r) => setTimeout(r, 25));
      }
      changing = false;
    })();
    let last = first;
    while (changing) {
      const update = await client.next(10_000).catch(() => undefined);
      if (!update) break;
      if (changing) received.push(update.version_info);
      client.ack(update, ['big.default']);
      last = update;
    }
    await changes;
    expect(received.length).toBeGreaterThanOrEqual(2);
    expect(last.nonce).not.toBe(first.nonce);
  }, 120_000);
});
