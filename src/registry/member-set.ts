import type { Instance } from '../model/instance';

/** The instances of a subset and how many of them are healthy. */
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
  for (const i of instances) if (i.healthy) n++;
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
  private readonly positions = new Map<string, number>();

  add(instance: Instance): void {
    this.positions.set(instance.id, this.instances.length);
    this.instances.push(instance);
    if (instance.healthy) this.healthy++;
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
    if (gone.healthy) this.healthy--;
    this.version++;
  }
}
