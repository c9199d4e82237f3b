import { mergeByKey, sortByKey } from '../../src/store/sliced-sort';

test('sorts by key like Array.prototype.sort, across many runs and merges, leaving its input as it was', async () => {
  const items = Array.from({ length: 100_003 }, (_, i) => ({ key: `k/${(i * 7919) % 100_003}`, value: i }));
  const sorted = await sortByKey(items);
  expect(sorted).toEqual([...items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  expect(items[0]!.key).toBe('k/0'); // the input is left as it was
  expect(items[1]!.key).toBe('k/7919');
  expect(await sortByKey([])).toEqual([]);
  expect(await sortByKey([{ key: 'b' }, { key: 'a' }])).toEqual([{ key: 'a' }, { key: 'b' }]);
});

test('merges two sorted arrays by key', () => {
  expect(mergeByKey([{ key: 'a' }, { key: 'c' }, { key: 'd' }], [{ key: 'b' }, { key: 'e' }]).map((e) => e.key)).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(mergeByKey([], [{ key: 'b' }])).toEqual([{ key: 'b' }]);
});
