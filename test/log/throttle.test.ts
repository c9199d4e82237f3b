import { LineThrottle } from '../../src/log/throttle';

test('a key passes once per window; the lines held back are counted into its next one', () => {
  let now = 0;
  const throttle = new LineThrottle(60_000, () => now);
  expect(throttle.pass('bad labels')).toBe(0);
  for (let i = 0; i < 3; i++) expect(throttle.pass('bad labels')).toBeUndefined();
  expect(throttle.pass('bad side')).toBe(0); // another key has its own window
  now = 59_999;
  expect(throttle.pass('bad labels')).toBeUndefined();
  now = 60_000;
  expect(throttle.pass('bad labels')).toBe(4);
  expect(throttle.pass('bad labels')).toBeUndefined();
  now = 200_000;
  expect(throttle.pass('bad labels')).toBe(1);
  expect(throttle.pass('bad side')).toBe(0);
});
