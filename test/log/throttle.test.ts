import { LineThrottle, MAX_THROTTLED_KEYS, type LetThrough } from '../../src/log/throttle';

const WINDOW = 60_000;

test('a key passes once per window; the lines held back are counted into its next one', () => {
  let now = 0;
  const throttle = new LineThrottle(WINDOW, () => now);
  const own = (held: number) => ({ held, others: false });
  expect(throttle.pass('bad labels')).toEqual(own(0));
  for (let i = 0; i < 3; i++) expect(throttle.pass('bad labels')).toBeUndefined();
  expect(throttle.pass('bad side')).toEqual(own(0)); // another key has its own window
  now = 59_999;
  expect(throttle.pass('bad labels')).toBeUndefined();
  now = 60_000;
  expect(throttle.pass('bad labels')).toEqual(own(4));
  expect(throttle.pass('bad labels')).toBeUndefined();
  now = 200_000;
  expect(throttle.pass('bad labels')).toEqual(own(1));
  expect(throttle.pass('bad side')).toEqual(own(0));
});

test('keys cycling past the table get one line a window between them, and every held line is reported', () => {
  let now = 0;
  const throttle = new LineThrottle(WINDOW, () => now);
  const linesPerWindow = new Map<number, number>();
  let calls = 0;
  let reported = 0;
  const pass = (key: string): LetThrough | undefined => {
    calls++;
    const line = throttle.pass(key);
    if (line) {
      const window = Math.floor(now / WINDOW);
      linesPerWindow.set(window, (linesPerWindow.get(window) ?? 0) + 1);
      reported += 1 + line.held;
    }
    return line;
  };
  // 10,000 callers, each stream refused in turn, one every 5 ms: 5 cycles over about 4 windows.
  for (let cycle = 0; cycle < 5; cycle++) {
    for (let i = 0; i < 10_000; i++) {
      pass(`caller-${i}\u0000bad labels`);
      now += 5;
    }
  }
  expect([...linesPerWindow.keys()]).toEqual([0, 1, 2, 3, 4]);
  expect(Math.max(...linesPerWindow.values())).toBeLessThanOrEqual(MAX_THROTTLED_KEYS + 1);
  // Once every window has ended, new keys fill the table again and the next line past it reports what is left.
  now += WINDOW;
  let flushed: LetThrough | undefined;
  for (let i = 0; !flushed?.others; i++) flushed = pass(`later-${i}`);
  expect(reported).toBe(calls);
});

test('a key past the full table gets a line of its own again once windows in the table end', () => {
  let now = 0;
  const throttle = new LineThrottle(WINDOW, () => now);
  for (let i = 0; i < MAX_THROTTLED_KEYS; i++) throttle.pass(`k${i}`);
  expect(throttle.pass('late')).toEqual({ held: 0, others: true });
  expect(throttle.pass('later')).toBeUndefined();
  expect(throttle.pass('late')).toBeUndefined();
  throttle.pass('k0'); // held: reported with the next line for others once k0 leaves the table
  now = WINDOW;
  expect(throttle.pass('late')).toEqual({ held: 0, others: false }); // ended windows made room
  for (let i = 0; i < MAX_THROTTLED_KEYS - 1; i++) throttle.pass(`n${i}`);
  expect(throttle.pass('one too many')).toEqual({ held: 3, others: true });
});
