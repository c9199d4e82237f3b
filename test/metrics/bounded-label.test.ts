import { BoundedLabel } from '../../src/metrics/bounded-label';

test('a plugin-filled label keeps its first distinct values and counts the rest as the overflow value', () => {
  const label = new BoundedLabel(3, '(other)');
  expect(['a', 'b', 'a', 'c', 'd', 'b', 'e', 'c'].map((v) => label.of(v))).toEqual(['a', 'b', 'a', 'c', '(other)', 'b', '(other)', 'c']);
});
