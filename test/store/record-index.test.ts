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

test('a key written again keeps its slot; a walk sees every key that stays in place once, in log order, through moves, deletions and reuse', () => {
  const index = new RecordIndex();
  const keys = 'abcdefghij'.split('');
  keys.forEach((key, i) => index.set(key, i * 10, 10));
  const slotOfC = index.slotOf('c');
  const walk = index.entries();
  const seen = [walk.next().value![0], walk.next().value![0], walk.next().value![0]]; // a, b, c
  index.set('d', 100, 10); // the walk's next key moves to the end
  index.delete('e'); // and the one after it goes
  index.set('k', 110, 10); // takes e's slot, at the end
  index.set('c', 120, 10); // one already seen moves too
  expect(index.slotOf('c')).toBe(slotOfC);
  for (let step = walk.next(); !step.done; step = walk.next()) seen.push(step.value[0]);
  expect(seen.slice(0, 8)).toEqual(['a', 'b', 'c', 'f', 'g', 'h', 'i', 'j']);
  expect(seen.filter((key) => key === 'e')).toEqual([]);
  expect([...index.entries()].map(([key, slot]) => [key, index.offset(slot)])).toEqual([
    ['a', 0], ['b', 10], ['f', 50], ['g', 60], ['h', 70], ['i', 80], ['j', 90], ['d', 100], ['k', 110], ['c', 120],
  ]);
  const ended = index.entries();
  ended.next();
  ended.return(); // an unfinished walk, ended: later writes do not look for it
  index.delete('a');
  expect([...index.entries()][0]![0]).toBe('b');
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

test('past several pages of slots, with a relocation running while the pages are added', () => {
  const index = new RecordIndex();
  const count = 150_000; // more than two pages of 65,536 slots
  for (let i = 0; i < count / 2; i++) index.set(`k/${i}`, i * 10, 10);
  index.beginRelocation();
  for (const [key, slot] of index.entries()) index.relocate(slot, Number(key.slice(2)) * 3, 3);
  for (let i = count / 2; i < count; i++) {
    index.set(`k/${i}`, i * 10, 10);
    index.relocate(index.slotOf(`k/${i}`)!, i * 3, 3);
  }
  for (let i = 0; i < count; i += 1000) index.delete(`k/${i}`);
  index.finishRelocation();
  expect(index.size).toBe(count - count / 1000);
  expect(index.liveBytes).toBe(3 * (count - count / 1000));
  const wrong: string[] = [];
  let expected = 1;
  for (const [key, slot] of index.entries()) {
    if (key !== `k/${expected}` || index.offset(slot) !== expected * 3 || index.length(slot) !== 3) wrong.push(key);
    expected += expected % 1000 === 999 ? 2 : 1;
  }
  expect(wrong).toEqual([]);
  expect(expected).toBe(count + 1);
});
