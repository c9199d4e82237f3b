import { DeadlineWheel } from '../../src/registry/deadlines';

function random(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

describe('DeadlineWheel', () => {
  it('gives every entry back once, at or after its deadline and no later than the first pop past it', () => {
    const next = random(11);
    const wheel = new DeadlineWheel<number, string>();
    const waiting = new Map<number, number>(); // entry → deadline
    const problems: string[] = [];
    let id = 0;
    // Time jumps now and then (an idle server), and some deadlines are already past when pushed.
    for (let now = 0; now < 20000; now += next() < 0.01 ? 500 : 1) {
      for (let k = Math.floor(next() * 4); k > 0; k--) {
        const deadline = now + Math.floor(next() * 300) - 20;
        waiting.set(id, deadline);
        wheel.push(deadline, id, `i${id}`);
        id++;
      }
      const popped = new Set<number>();
      for (let due; (due = wheel.pop(now)); ) {
        const [entry, name] = due;
        if (name !== `i${entry}`) problems.push(`entry ${entry} came back with ${name}`);
        if (!waiting.has(entry)) problems.push(`entry ${entry} came back twice`);
        if (waiting.get(entry)! > now) problems.push(`entry ${entry} came back at ${now}, before its deadline ${waiting.get(entry)}`);
        waiting.delete(entry);
        popped.add(entry);
      }
      for (const [entry, deadline] of waiting) if (deadline <= now) problems.push(`entry ${entry} (deadline ${deadline}) not given back at ${now}`);
      if (wheel.hasDue(now)) problems.push(`hasDue after every due entry was taken at ${now}`);
      if (problems.length > 0) break;
    }
    expect(problems).toEqual([]);
    expect(id).toBeGreaterThan(5000); // the test made entries
  });

  it('finds entries after a jump of a billion ticks without walking them, and keeps a past deadline pushed after a fruitless check due at once', () => {
    const wheel = new DeadlineWheel<string, string>();
    wheel.push(10, 'a', 'b');
    wheel.push(2_000_000_000, 'late', 'x');
    expect(wheel.pop(1_000_000_000)).toEqual(['a', 'b']); // a step per tick would take minutes
    expect(wheel.pop(1_000_000_000)).toBeUndefined();
    wheel.push(1_000_000_000, 'c', 'd');
    expect(wheel.hasDue(1_000_000_000)).toBe(true);
    expect(wheel.pop(1_000_000_000)).toEqual(['c', 'd']);
  });

  it('says an entry is due once its tick comes, not before', () => {
    const wheel = new DeadlineWheel<string, string>();
    wheel.push(10, 'a', 'b');
    expect(wheel.hasDue(9)).toBe(false);
    expect(wheel.pop(9)).toBeUndefined();
    expect(wheel.hasDue(10)).toBe(true);
    expect(wheel.pop(10)).toEqual(['a', 'b']);
    expect(wheel.pop(10)).toBeUndefined();
    // Emptied at tick 20, then given an entry due at 20: due at 20.
    expect(wheel.pop(20)).toBeUndefined();
    wheel.push(20, 'c', 'd');
    expect(wheel.pop(20)).toEqual(['c', 'd']);
  });
});
