import { FollowPrimaryRollout } from '../../src/app/follow-rollout';
import { captureLogs } from '../support/logs';

/** A plan whose switchOver records its name. */
const plan = (name: string, applied: string[]) => () => ({ before: {} as never, after: {} as never, switchOver: () => void applied.push(name) });
const turn = () => new Promise((r) => setImmediate(r));

describe("a worker's rollout follows the primary's", () => {
  test('a change applies only when the primary switched it over, in order, and is confirmed after', async () => {
    const applied: string[] = [];
    const confirmed: string[] = [];
    const follow = new FollowPrimaryRollout(10_000, (what) => void confirmed.push(`${what} after ${applied.join(',')}`), captureLogs().logger);
    const done = [follow.rollout('rules v2', plan('v2', applied)), follow.rollout('rules v3', plan('v3', applied))];
    await turn();
    expect(applied).toEqual([]);
    follow.switched('rules v3'); // v3 cannot overtake v2
    await turn();
    expect(applied).toEqual([]);
    follow.switched('rules v2');
    await Promise.all(done);
    expect(applied).toEqual(['v2', 'v3']);
    expect(confirmed).toEqual(['rules v2 after v2', 'rules v3 after v2,v3']);
  });

  test('a switch that arrives before the change (IPC order) is kept for it', async () => {
    const applied: string[] = [];
    const follow = new FollowPrimaryRollout(10_000, () => undefined, captureLogs().logger);
    follow.switched('router lane config v7');
    await follow.rollout('router lane config v7', plan('lane', applied));
    expect(applied).toEqual(['lane']);
  });

  test('a switch that never comes is waited for a bounded time, then the change applies, logged', async () => {
    const applied: string[] = [];
    const logs = captureLogs();
    const follow = new FollowPrimaryRollout(50, () => undefined, logs.logger);
    await follow.rollout('rules v9', plan('v9', applied));
    expect(applied).toEqual(['v9']);
    expect(logs.records().filter((r) => r.event === 'rollout.unconfirmed').map((r) => r.what)).toEqual(['rules v9']);
  });
});
