import { parseRefs } from '../../src/registry/batch-input';

test('parseRefs validates a long list a few hundred entries per event-loop turn, naming a bad entry by index', async () => {
  const list: unknown[] = Array.from({ length: 2000 }, (_, i) => ({ service: 'shop', id: `i${i}` }));
  list[1500] = { service: 'shop', id: 'a b' };
  let turns = 0;
  let counting = true;
  const tick = (): void => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const errors: string[] = [];
  const refs = await parseRefs(list, 'instances', errors);
  counting = false;
  expect(turns).toBeGreaterThanOrEqual(3); // 2,000 entries, 500 per turn: other work ran in between
  expect(errors).toEqual(["instances[1500].id: required, letters, digits, '_', '.', '-', ':'"]);
  expect(refs[0]).toEqual({ namespace: 'default', service: 'shop', id: 'i0' });
  expect(refs[1500]).toBeUndefined();
});
