import { parseRefs } from '../../src/registry/batch-input';
import { turnsDuring } from '../support/turns';

test('parseRefs validates a long list a few hundred entries per event-loop turn, naming a bad entry by index', async () => {
  const list: unknown[] = Array.from({ length: 2000 }, (_, i) => ({ service: 'shop', id: `i${i}` }));
  list[1500] = { service: 'shop', id: 'a b' };
  const errors: string[] = [];
  const parsing = parseRefs(list, 'instances', errors);
  expect(await turnsDuring(parsing)).toBeGreaterThanOrEqual(2); // 2,000 entries, 500 per turn: other work ran between the chunks (none if it ran at once)
  const refs = await parsing;
  expect(errors).toEqual(["instances[1500].id: required, letters, digits, '_', '.', '-', ':'"]);
  expect(refs[0]).toEqual({ namespace: 'default', service: 'shop', id: 'i0' });
  expect(refs[1500]).toBeUndefined();
});
