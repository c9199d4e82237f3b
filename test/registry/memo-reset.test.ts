import type { Instance } from '../../src/model/instance';
import { ServiceView } from '../../src/registry/service-view';

const inst = (id: number, user: string): Instance => ({ id: `i${id}`, service: 'shop', namespace: 'default', host: `10.0.${id >> 8}.${id & 255}`, port: 80, weight: 100, metadata: { user, version: 'v1' }, locality: {}, healthy: true, ephemeral: false, ttlSeconds: 10 });

/**
 * Request-supplied values (user ids) make a service's memoised subsets grow; past 10,000 they
 * start over. Not within a decision: it asks a subset, then asks it again and compares the two
 * by identity (engine.ts `finish`), and a start-over in between turned a subset decision into an
 * endpoint list, which Envoy ignores in a subset-mode cluster.
 */
test('subsets stay the same objects until the decision asking for them is done, then start over', async () => {
  const view = new ServiceView('default', 'shop');
  for (let i = 0; i < 50; i++) view.upsert(inst(i, `u${i}`));
  const asked = { version: 'v1', user: 'u1' };
  // One synchronous stretch, as a decision is: the subset asked first, then 10,000 more, then it again.
  const first = view.subset({ ...asked });
  for (let i = 0; i < 10_000; i++) view.subset({ version: 'v1', user: `visitor-${i}` });
  expect(view.subset({ ...asked })).toBe(first);
  expect(first.instances.map((i) => i.id)).toEqual(['i1']);
  await Promise.resolve(); // the decision is done
  const after = view.subset({ ...asked });
  expect(after).not.toBe(first); // started over
  expect(after.instances.map((i) => i.id)).toEqual(['i1']);
  // Kept up to date as ever after the start-over.
  view.upsert(inst(99, 'u1'));
  expect(view.subset({ ...asked }).instances.map((i) => i.id).sort()).toEqual(['i1', 'i99']);
});
