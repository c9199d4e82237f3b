import type { Instance } from '../../src/model/instance';
import { PAGE_LENGTH } from '../../src/model/paged-array';
import { Roster } from '../../src/registry/member-set';

function member(n: number): Instance {
  return {
    id: `i${n}`, service: 'big', namespace: 'default', host: `10.0.${n >> 8}.${n & 255}`, port: 8080, weight: 100,
    metadata: {}, locality: {}, healthy: true, ephemeral: true, ttlSeconds: 30,
  };
}

describe('Roster', () => {
  it('keeps each member\'s own lease deadline past its first pages, through removals that move the last member across pages', () => {
    const roster = new Roster();
    const count = PAGE_LENGTH + 4000; // the last members sit on the second page
    const deadline = new Map<string, number | undefined>();
    for (let n = 0; n < count; n++) {
      roster.add(member(n));
      const d = n % 7 === 0 ? undefined : 1000 + n; // every seventh without a lease
      roster.setDeadline(`i${n}`, d);
      deadline.set(`i${n}`, d);
    }
    // Removals from the first page (each moves a second-page member into its place) and from the second.
    for (const n of [0, 5, 17, 30000, 65535, 65536, count - 1, 12345]) {
      roster.remove(`i${n}`);
      deadline.delete(`i${n}`);
    }
    roster.setDeadline(`i${count - 2}`, 7); // a moved member's lease still answers to its id
    deadline.set(`i${count - 2}`, 7);
    expect(roster.instances.length).toBe(deadline.size);
    const wrong = [...deadline].filter(([id, d]) => roster.deadline(id) !== d).map(([id]) => id);
    expect(wrong).toEqual([]);
    expect(roster.deadline('i5')).toBeUndefined(); // removed, and it had a lease
  });
});
