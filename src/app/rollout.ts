import type { Logger } from '../log/logger';
import type { Counter } from '../metrics/metrics';
import { NONE_HELD, type SelectorBasis } from '../xds/selectors';
import type { XdsServer } from '../xds/server';
import { CDS } from '../xds/types';

/**
 * Make-before-break for changes that need other subset selectors in Envoy (rules, router
 * configs). Without it ext_proc writes a new rule's labels into `envoy.lb` before Envoy has
 * the selector for them, and Envoy's fallback sends the request anywhere. So: Envoy first
 * gets the selectors of both the old and the new state; ext_proc switches once every Envoy
 * that subscribes to the changed clusters has ACKed them (or after `maxWaitMs`, counted and
 * logged with the proxies that did not); then the old selectors are dropped, `DRAIN_MS` later,
 * which ext_proc no longer uses. Changes roll out one at a time, in order; the next one need
 * not wait for that drop.
 */

/**
 * How long the old selectors outlive the switch: answers ext_proc gave just before it may still
 * be on their way to Envoy, whose main thread can apply the Cluster without them first (a real
 * Envoy under load sent such a request to another user's container). Envoy's ext_proc
 * `message_timeout` (200 ms by default) bounds how late an answer may arrive and still count.
 */
const DRAIN_MS = 500;

/** One change, planned when its turn comes (so it starts from what ext_proc serves by then). */
export interface RolloutPlan {
  readonly before: SelectorBasis;
  readonly after: SelectorBasis;
  /** Makes ext_proc use the new state; resolves once every ext_proc server (workers too) does. */
  switchOver(): void | Promise<void>;
}

export class SelectorRollout {
  /** The rolling-out change's before and after. */
  private rolling = NONE_HELD;
  /** What ext_proc switched away from less than `DRAIN_MS` ago. */
  private readonly draining: SelectorBasis[] = [];
  /** Both of the above; a new array only when they change (xDS rebuilds policies when it does). */
  private held = NONE_HELD;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly xds: XdsServer,
    private readonly maxWaitMs: number,
    private readonly timeouts: Counter,
    private readonly log: Logger,
  ) {}

  /** Selectors xDS serves beside the current ones while a change rolls out. */
  heldSelectors(): readonly SelectorBasis[] {
    return this.held;
  }

  private hold(rolling: readonly SelectorBasis[]): void {
    this.rolling = rolling;
    this.held = this.draining.length === 0 ? rolling : [...rolling, ...this.draining];
  }

  /** Keeps serving `basis` for `DRAIN_MS` after ext_proc left it. */
  private drain(basis: SelectorBasis): void {
    this.draining.push(basis);
    setTimeout(() => {
      this.draining.splice(this.draining.indexOf(basis), 1);
      this.hold(this.rolling);
      this.xds.rebuildNow();
    }, DRAIN_MS).unref();
  }

  /** Queues a change; its plan is made when the changes before it are done. */
  apply(what: string, plan: () => RolloutPlan): Promise<void> {
    const step = this.queue.then(async () => {
      const { before, after, switchOver } = plan();
      this.hold([before, after]);
      try {
        const changed = this.xds.rebuildNow().get(CDS);
        if (changed && changed.size > 0) {
          const laggards = await this.xds.awaitClusters([...changed], this.maxWaitMs);
          if (laggards.length > 0) {
            this.timeouts.inc();
            this.log.warn({ event: 'rollout.timeout', what, laggards, waitedMs: this.maxWaitMs }, 'rollout: proxies did not ACK the new subset selectors in time; switching anyway');
          }
        }
        await switchOver();
        this.drain(before);
      } finally {
        this.hold(NONE_HELD);
        this.xds.rebuildNow();
      }
    });
    this.queue = step.catch((error: unknown) => this.log.error({ event: 'rollout.failed', what, err: error }, 'rollout failed'));
    return this.queue;
  }
}
