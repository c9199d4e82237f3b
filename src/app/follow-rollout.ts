import type { Logger } from '../log/logger';
import type { Rollout } from './app';

/** Switches that arrived before the worker saw the change; a few at most, bounded anyway. */
const MAX_EARLY_SWITCHES = 1000;

/**
 * An ext_proc worker's rollout: a rule or router-config change is used when the primary's
 * rollout of the same change (same `what`) has switched over, i.e. when the Envoys have its
 * subset selectors. Changes apply in order. The primary switches within its rollout wait,
 * so a switch that never comes (the primary's rollout failed) is waited for `maxWaitMs`,
 * then the change applies anyway, logged.
 */
export class FollowPrimaryRollout {
  private readonly early = new Set<string>();
  private readonly waiting = new Map<string, () => void>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly maxWaitMs: number,
    /** Tells the primary this worker uses the change now (it drops the old selectors after). */
    private readonly confirm: (what: string) => void,
    private readonly log: Logger,
  ) {}

  readonly rollout: Rollout = (what, plan) => {
    this.queue = this.queue.then(() => this.primarySwitched(what)).then(async () => {
      await plan().switchOver();
      this.confirm(what);
    });
    return this.queue;
  };

  /** The primary says `what` has switched over. */
  switched(what: string): void {
    const resolve = this.waiting.get(what);
    if (resolve) return resolve();
    this.early.add(what);
    if (this.early.size > MAX_EARLY_SWITCHES) this.early.delete(this.early.values().next().value!);
  }

  private primarySwitched(what: string): Promise<void> {
    if (this.early.delete(what)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ event: 'rollout.unconfirmed', what, waitedMs: this.maxWaitMs }, 'worker: the primary did not switch this change over in time; using it anyway');
        done();
      }, this.maxWaitMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiting.delete(what);
        resolve();
      };
      this.waiting.set(what, done);
    });
  }
}
