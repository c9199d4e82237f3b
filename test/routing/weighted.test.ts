import type { RequestContext } from '../../src/context/request-context';
import type { Destination } from '../../src/model/rule';
import { pickDestination } from '../../src/routing/weighted';

const dest = (name: string, weight = 100): Destination => ({ name, labels: { g: name }, priority: 0, weight, isolate: false });
const ctxWith = (user: string) => ({ label: () => user }) as unknown as RequestContext;
const STICKY = { type: 'header', key: 'x-user-id' } as const;
const users = Array.from({ length: 3000 }, (_, i) => `user-${i}`);

test('sticky choice: when one destination goes down, only its users move', () => {
  const group = [dest('a'), dest('b'), dest('c')];
  const before = new Map(users.map((u) => [u, pickDestination(group, () => true, ctxWith(u), STICKY)!.name]));
  const after = new Map(users.map((u) => [u, pickDestination(group, (d) => d.name !== 'b', ctxWith(u), STICKY)!.name]));
  for (const u of users) if (before.get(u) !== 'b') expect(after.get(u)).toBe(before.get(u));
  const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
  for (const name of before.values()) counts[name]!++;
  for (const name of ['a', 'b', 'c']) expect(Math.abs(counts[name]! / users.length - 1 / 3)).toBeLessThan(0.05);
});

test('sticky choice follows weights', () => {
  const group = [dest('heavy', 300), dest('light', 100)];
  const heavy = users.filter((u) => pickDestination(group, () => true, ctxWith(u), STICKY)!.name === 'heavy').length;
  expect(Math.abs(heavy / users.length - 0.75)).toBeLessThan(0.05);
});
