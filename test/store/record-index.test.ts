import { RecordIndex } from '../../src/store/record-index';

test('keeps one position per key in log order; a key written again moves to the end; live bytes follow', () => {
  const index = new RecordIndex();
  index.set('a', 0, 10);
  index.set('b', 10, 20);
  index.set('a', 30, 5);
  expect([...index.entries()].map(([key, slot]) => [key, index.offset(slot), index.length(slot)])).toEqual([['b', 10, 20], ['a', 30, 5]]);
  expect(index.liveBytes).toBe(25);
  expect(index.delete('b')).toBe(true);
  expect(index.delete('b')).toBe(false);
  expect(index.liveBytes).toBe(5);
  for (let i = 0; i < 5000; i++) index.set(`k/${i}`, 100 + i, 1); // grows past its first arrays
  expect(index.size).toBe(5001);
  expect(index.offset(index.slotOf('k/4999')!)).toBe(5099);
  expect(index.liveBytes).toBe(5005);
});

test('a relocation swaps in every position at once; slots freed and reused during it count right', () => {
  const index = new RecordIndex();
  index.set('a', 0, 10);
  index.set('b', 10, 10);
  index.set('c', 20, 10);
  index.beginRelocation();
  index.relocate(index.slotOf('a')!, 0, 11);
  index.relocate(index.slotOf('b')!, 11, 11);
  index.delete('b'); // after it was copied: its slot counts nothing
  index.set('d', 30, 7); // takes b's slot, relocated by the tail
  index.relocate(index.slotOf('d')!, 33, 7);
  index.relocate(index.slotOf('c')!, 22, 11);
  for (let i = 0; i < 2000; i++) index.set(`n/${i}`, 40 + i, 1); // grows the arrays mid-relocation
  for (let i = 0; i < 2000; i++) index.relocate(index.slotOf(`n/${i}`)!, 40 + i, 2);
  expect(index.offset(index.slotOf('a')!)).toBe(0); // still the old log's until the switch
  expect(index.length(index.slotOf('a')!)).toBe(10);
  index.finishRelocation();
  expect([...index.entries()].slice(0, 3).map(([key, slot]) => [key, index.offset(slot), index.length(slot)])).toEqual([['a', 0, 11], ['c', 22, 11], ['d', 33, 7]]);
  expect(index.liveBytes).toBe(11 + 11 + 7 + 2 * 2000);
});

test('an abandoned relocation leaves the positions as they were', () => {
  const index = new RecordIndex();
  index.set('a', 5, 10);
  index.beginRelocation();
  index.relocate(index.slotOf('a')!, 0, 99);
  index.abandonRelocation();
  expect([index.offset(index.slotOf('a')!), index.length(index.slotOf('a')!), index.liveBytes]).toEqual([5, 10, 10]);
});
