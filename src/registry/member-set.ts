import { serves, type Instance } from '../model/instance';
import { PagedArray } from '../model/paged-array';
import { ShardedMap } from '../model/sharded-map';

/** The instances of a subset and how many of them take traffic (`serves`: healthy, weight above 0). */
export interface Subset {
  readonly instances: readonly Instance[];
  readonly healthy: number;
  /**
   * Changes whenever membership or health changes. A ServiceView's subsets are live (kept up
   * to date as instances come and go); anything derived from one is valid for one version.
   */
  readonly version: number;
}

export function countHealthy(instances: readonly Instance[]): number {
  let n = 0;
  for (const i of instances) if (serves(i)) n++;
  return n;
}

/** A fixed list (a router's own narrowing): never changes. */
export function fixedSubset(instances: readonly Instance[]): Subset {
  return { instances, healthy: countHealthy(instances), version: 0 };
}

/**
 * A live subset: add and remove by instance id in O(1) (swap-remove with a position map),
 * so a registration updates every memoised subset it belongs to without a scan.
 */
export class MemberSet implements Subset {
  readonly instances: Instance[] = [];
  healthy = 0;
  version = 0;
  protected readonly positions = new ShardedMap<number>();

  get(id: string): Instance | undefined {
    const at = this.positions.get(id);
    return at === undefined ? undefined : this.instances[at];
  }

  add(instance: Instance): void {
    this.positions.set(instance.id, this.instances.length);
    this.instances.push(instance);
    if (serves(instance)) this.healthy++;
    this.version++;
  }

  remove(id: string): void {
    const at = this.positions.get(id);
    if (at === undefined) return;
    const gone = this.instances[at]!;
    const last = this.instances.pop()!;
    if (last !== gone) {
      this.instances[at] = last;
      this.positions.set(last.id, at);
    }
    this.positions.delete(id);
    if (serves(gone)) this.healthy--;
    this.version++;
  }

  /**
   * Puts `instance` in the place of the member with its id (which must be there): no Map
   * write, so a re-registration leaves no deleted entry behind for V8 to copy the whole Map over.
   */
  replace(instance: Instance): void {
    const at = this.positions.get(instance.id)!;
    if (serves(this.instances[at]!)) this.healthy--;
    if (serves(instance)) this.healthy++;
    this.instances[at] = instance;
    this.version++;
  }
}

/** `Roster.deadline` of a member without a lease (a persistent instance). */
const NO_LEASE = -1;

/**
 * A whole service: its members by id, and each one's lease deadline in typed arrays beside the
 * members (the registry's tick units; Float64, so no uptime overflows it), so a million
 * instances need no Map beyond the positions, and the deadlines grow by pages, not by copying.
 * A replaced member keeps its place and its deadline.
 */
export class Roster extends MemberSet {
  private readonly deadlines = new PagedArray<number>((n) => new Float64Array(n), 16);

  override add(instance: Instance): void {
    const at = this.instances.length;
    super.add(instance);
    this.deadlines.growTo(at + 1);
    this.deadlines.set(at, NO_LEASE);
  }

  override remove(id: string): void {
    const at = this.positions.get(id);
    if (at === undefined) return;
    super.remove(id);
    this.deadlines.set(at, this.deadlines.get(this.instances.length)); // the last member moved into its place
  }

  /** The lease deadline of a member, or undefined (not a member, or no lease). */
  deadline(id: string): number | undefined {
    const at = this.positions.get(id);
    const deadline = at === undefined ? NO_LEASE : this.deadlines.get(at);
    return deadline === NO_LEASE ? undefined : deadline;
  }

  /** Sets (or with undefined, ends) a member's lease. */
  setDeadline(id: string, deadline: number | undefined): void {
    const at = this.positions.get(id);
    if (at !== undefined) this.deadlines.set(at, deadline ?? NO_LEASE);
  }
}
