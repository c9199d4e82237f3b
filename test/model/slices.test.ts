import { mergeSorted, resultInSlices, runInSlices, runToEnd, sortInSlices, sortInSteps, type Steps } from '../../src/model/slices';

const byKey = (a: { key: string }, b: { key: string }): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const keyBefore = (a: { key: string }, b: { key: string }): boolean => a.key < b.key;

test('sortInSteps sorts like Array.prototype.sort, stable, and yields on large inputs', () => {
  const items = Array.from({ length: 5000 }, (_, i) => ({ key: (i * 7919) % 97, i }));
  let yields = 0;
  const steps = sortInSteps(items, (a, b) => a.key < b.key);
  let next = steps.next();
  for (; !next.done; next = steps.next()) yields++;
  expect(next.value).toEqual([...items].sort((a, b) => a.key - b.key || a.i - b.i));
  expect(yields).toBeGreaterThan(4);
  expect(runToEnd(sortInSteps([], (a: number, b: number) => a < b))).toEqual([]);
});

test('sortInSlices sorts by key across many runs and merges, leaving its input as it was', async () => {
  const items = Array.from({ length: 100_003 }, (_, i) => ({ key: `k/${(i * 7919) % 100_003}`, value: i }));
  const sorted = await sortInSlices(items, keyBefore);
  expect(sorted).toEqual([...items].sort(byKey));
  expect(items[0]!.key).toBe('k/0');
  expect(items[1]!.key).toBe('k/7919');
  expect(await sortInSlices([], keyBefore)).toEqual([]);
  expect(await sortInSlices([{ key: 'b' }, { key: 'a' }], keyBefore)).toEqual([{ key: 'a' }, { key: 'b' }]);
});

test('mergeSorted merges two sorted arrays, ties from the first', () => {
  expect(mergeSorted([{ key: 'a' }, { key: 'c' }, { key: 'd' }], [{ key: 'b' }, { key: 'e' }], keyBefore).map((e) => e.key)).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(mergeSorted([], [{ key: 'b' }], keyBefore)).toEqual([{ key: 'b' }]);
  const tie = mergeSorted([{ key: 'a', from: 'left' }], [{ key: 'a', from: 'right' }], keyBefore);
  expect(tie.map((e) => e.from)).toEqual(['left', 'right']);
});

test('jobs started together share one slice budget per turn, and each still ends with its result', async () => {
  const busy = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  let steps = 0;
  function* job(id: number): Steps<number> {
    for (let i = 0; i < 2; i++) {
      busy(0.3);
      steps++;
      yield;
    }
    return id;
  }
  // 100 jobs of 0.6 ms each: 60 ms of work that used to run a slice each in this very turn.
  const started = Array.from({ length: 100 }, (_, id) => resultInSlices(job(id)));
  expect(steps).toBeLessThanOrEqual(4); // run at once: about 1 ms of 0.3 ms steps, however slow the machine
  expect(await Promise.all(started)).toEqual(Array.from({ length: 100 }, (_, id) => id));
  expect(steps).toBe(200);
});

test('a job whose steps throw rejects, and the jobs waiting behind it go on', async () => {
  function* failing(): Steps<number> {
    yield;
    throw new Error('step failed');
  }
  function* fine(): Steps<number> {
    yield;
    return 7;
  }
  const [failed, ended] = await Promise.allSettled([runInSlices(failing()), resultInSlices(fine())]);
  expect(failed).toEqual({ status: 'rejected', reason: new Error('step failed') });
  expect(ended).toEqual({ status: 'fulfilled', value: 7 });
});
