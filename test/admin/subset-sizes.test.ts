import { MAX_SUBSETS, subsetSizes, type SubsetSize } from '../../src/admin/services';
import { instanceLabel, serves, type Instance } from '../../src/model/instance';
import { runToEnd } from '../../src/model/slices';
import { ServiceView } from '../../src/registry/service-view';

function inst(id: number, metadata: Record<string, string>, healthy: boolean, zone?: string): Instance {
  return { id: `i${id}`, service: 'shop', namespace: 'default', host: `10.0.${id >> 8}.${id & 255}`, port: 80, weight: 100, metadata, locality: zone ? { zone } : {}, healthy, ephemeral: false, ttlSeconds: 10 };
}

/** Every instance read once per selector, grouped by its values: what the service page showed before it read postings. */
function fullScan(instances: readonly Instance[], selectors: readonly (readonly string[])[]): SubsetSize[] {
  const out: SubsetSize[] = [];
  for (const keys of selectors) {
    const groups = new Map<string, { labels: Record<string, string>; instances: number; healthy: number }>();
    for (const instance of instances) {
      const values = keys.map((k) => instanceLabel(instance, k) ?? '');
      const id = values.join('\u0000');
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { labels: Object.fromEntries(keys.map((k, i) => [k, values[i]!])), instances: 0, healthy: 0 }));
      group.instances++;
      if (serves(instance)) group.healthy++;
    }
    for (const group of groups.values()) out.push({ keys, ...group });
  }
  return out;
}

const sorted = (subsets: readonly SubsetSize[]) => subsets.map((s) => JSON.stringify(s)).sort();

test('the subsets from the label postings are the ones a full scan finds, through random services and selectors', () => {
  let seed = 11;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const keys = ['env', 'user', 'lane', 'metaroute.io/zone'];
  for (let round = 0; round < 40; round++) {
    const view = new ServiceView('default', 'shop');
    const instances: Instance[] = [];
    for (let i = 0; i < 1 + rand(300); i++) {
      const metadata: Record<string, string> = {};
      for (const key of ['env', 'user', 'lane']) if (rand(3) > 0) metadata[key] = `${key}${rand(key === 'user' ? 50 : 3)}`;
      const instance = inst(i, metadata, rand(5) > 0, rand(2) ? `z${rand(2)}` : undefined);
      view.upsert(instance);
      instances.push(instance);
    }
    const selectors = Array.from({ length: 1 + rand(4) }, () => [...new Set(Array.from({ length: 1 + rand(3) }, () => keys[rand(keys.length)]!))]);
    const { subsets, omitted } = runToEnd(subsetSizes(view, selectors));
    const expected = fullScan(instances, selectors);
    if (expected.length <= MAX_SUBSETS) {
      expect(sorted(subsets)).toEqual(sorted(expected));
      expect(omitted).toBe(0);
    }
  }
});

test('a per-user selector over 3,000 instances lists the 1,000 largest subsets, in steps, and counts the rest', () => {
  const view = new ServiceView('default', 'shop');
  for (let i = 0; i < 3000; i++) view.upsert(inst(i, { user: i < 10 ? 'shared' : `u${i}`, version: i % 2 ? 'v1' : 'v2' }, true));
  const steps = subsetSizes(view, [['user'], ['version']]);
  let yields = 0;
  let next = steps.next();
  for (; !next.done; next = steps.next()) yields++;
  const { subsets, omitted } = next.value;
  expect(subsets).toHaveLength(MAX_SUBSETS);
  expect(omitted).toBe(2991 + 2 - MAX_SUBSETS); // 2,991 user subsets and 2 version ones
  expect(subsets.slice(0, 3).map((s) => [s.labels, s.instances])).toEqual([[{ version: 'v2' }, 1500], [{ version: 'v1' }, 1500], [{ user: 'shared' }, 10]]);
  expect(yields).toBeGreaterThanOrEqual(2);
});

test('the service changing between steps: each selector counts the service as it was when it began', () => {
  const view = new ServiceView('default', 'shop');
  for (let i = 0; i < 6000; i++) view.upsert(inst(i, { user: i < 3000 ? 'u1' : 'u2' }, true));
  const steps = subsetSizes(view, [['user']]);
  steps.next();
  steps.next();
  view.upsert(inst(5999, { user: 'u1' }, true)); // moves from u2 to u1 mid-count
  const { subsets } = runToEnd(steps);
  expect(sorted(subsets)).toEqual(sorted([{ keys: ['user'], labels: { user: 'u1' }, instances: 3000, healthy: 3000 }, { keys: ['user'], labels: { user: 'u2' }, instances: 3000, healthy: 3000 }]));
});
