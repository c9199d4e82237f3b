import { backoffMs } from '../../src/agent/backoff';

describe('the agents\' retry schedule', () => {
  const schedule = (random: () => number, intervalMs = 5000) => Array.from({ length: 7 }, (_, i) => backoffMs(i + 1, intervalMs, random));

  test('250 ms doubling, capped at 5 s, jittered down to half: eight tries wait under 20 s in all', () => {
    const longest = schedule(() => 1);
    expect(longest).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
    expect(longest.reduce((a, b) => a + b)).toBeLessThan(20_000);
    expect(schedule(() => 0)).toEqual([125, 250, 500, 1000, 2000, 2500, 2500]);
  });

  test('never longer than the heartbeat interval', () => {
    expect(schedule(() => 1, 333)).toEqual([250, 333, 333, 333, 333, 333, 333]);
  });
});
