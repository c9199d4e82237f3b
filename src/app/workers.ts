import cluster, { type Worker } from 'node:cluster';
import type { LifecyclePhase } from '../extproc/health';
import type { Logger } from '../log/logger';
import type { ServiceSplit } from '../metrics/decision-split';
import { Gauge, type MetricSnapshot } from '../metrics/metrics';
import { SummedMetrics } from '../metrics/summed';
import type { Store, StoreEvent } from '../store/store';
import { LIVENESS_PREFIX } from '../registry/liveness';

/** Messages between the primary and its ext_proc workers (over the cluster IPC channel). */
export type ToWorker =
  | { readonly t: 'init'; readonly entries: { key: string; value: string }[]; readonly revision: number; readonly last: boolean }
  | { readonly t: 'events'; readonly events: StoreEvent[] }
  | { readonly t: 'phase'; readonly phase: LifecyclePhase }
  /** The primary's rollout of this change (same `what` in the worker) has switched over. */
  | { readonly t: 'switched'; readonly what: string }
  | { readonly t: 'stats' }
  | { readonly t: 'split'; readonly key: string }
  | { readonly t: 'metrics' }
  | { readonly t: 'stop' };
export type FromWorker =
  | { readonly t: 'ready'; readonly port: number }
  | { readonly t: 'stats'; readonly decisions: number }
  | { readonly t: 'split'; readonly key: string; readonly split: ServiceSplit }
  /** The worker's ext_proc counters and histograms. */
  | { readonly t: 'metrics'; readonly metrics: MetricSnapshot[] }
  /** This worker uses the change now. */
  | { readonly t: 'switched'; readonly what: string };

/** The store snapshot goes to a new worker in pieces this big: no single huge IPC message. */
const INIT_CHUNK = 20_000;
const STOP_GRACE_MS = 5000;
const STATS_TIMEOUT_MS = 1000;
/** A worker that has not confirmed a switch by then is logged and no longer waited for. */
const SWITCH_TIMEOUT_MS = 2000;
/** A replacement that fails to start is tried again after 1 s, 2 s, 4 s … up to this. */
const MAX_RETRY_MS = 30_000;

export interface WorkerStats {
  readonly id: number;
  readonly pid: number | undefined;
  /** ext_proc requests this worker decided (null: it did not answer). */
  readonly decisions: number | null;
}

/**
 * `workers: N` on the primary: N ext_proc servers (node:cluster workers sharing the ext_proc
 * port; the primary hands out connections). Each worker routes from its own copy of the
 * store's state: the primary sends a snapshot when the worker starts, then forwards every
 * store change once per event-loop turn, so registrations, rules and router configs reach
 * every worker through the same store path as on the primary; a rule or router-config change
 * is used by a worker when the primary's rollout of it switches over. The store, xDS and the admin
 * API stay in the primary. A worker that dies after serving is replaced; one that dies before
 * serving fails the start, and a replacement that does (a certificate file half rotated) is
 * tried again until one serves.
 */
export class ExtProcWorkers {
  private readonly workers = new Set<Worker>();
  private pending: StoreEvent[] = [];
  private unwatch: (() => void) | undefined;
  private stopping = false;
  private port = 0;
  private answering = 0;
  /** The phase last sent to the workers, for a replacement started later (it would report serving while the rest drain). */
  private phase: LifecyclePhase | undefined;
  private readonly retries = new Set<NodeJS.Timeout>();
  private readonly metricsSum = new SummedMetrics();

  constructor(
    private readonly store: Store,
    private readonly count: number,
    private readonly log: Logger,
  ) {}

  /** Forks the workers; resolves with the ext_proc port once every one of them serves. */
  async start(): Promise<number> {
    const { revision } = await this.store.list('\u0000'); // only the revision: the watch starts there
    this.unwatch = this.store.watch('', revision, (event) => {
      if (!event.key.startsWith(LIVENESS_PREFIX)) this.forward(event);
    });
    const ports = await Promise.all(Array.from({ length: this.count }, () => this.fork()));
    this.port = ports[0]!;
    return this.port;
  }

  /** Workers answering ext_proc now (the /readyz check and the metaroute_extproc_servers gauge). */
  get serving(): number {
    return this.answering;
  }

  setPhase(phase: LifecyclePhase): void {
    this.phase = phase;
    this.broadcast({ t: 'phase', phase });
  }

  /** Each connected worker's stats; one that does not answer within a second shows decisions null. */
  async stats(): Promise<WorkerStats[]> {
    const live = [...this.workers].filter((worker) => worker.isConnected());
    return Promise.all(live.map(async (worker) => {
      const answer = await this.ask(worker, { t: 'stats' }, (m) => m.t === 'stats', STATS_TIMEOUT_MS);
      return { id: worker.id, pid: worker.process.pid, decisions: answer?.t === 'stats' ? answer.decisions : null };
    }));
  }

  /** Each connected worker's decision split of a service (a worker that does not answer within a second is left out). */
  async splits(key: string): Promise<ServiceSplit[]> {
    const live = [...this.workers].filter((worker) => worker.isConnected());
    const answers = await Promise.all(live.map((worker) => this.ask(worker, { t: 'split', key }, (m) => m.t === 'split' && m.key === key, STATS_TIMEOUT_MS)));
    return answers.flatMap((answer) => (answer?.t === 'split' ? [answer.split] : []));
  }

  /**
   * The workers' ext_proc metrics summed, as exposition text, with a gauge of the workers that
   * answered within a second: one that did not counts with its last answer, and so does one
   * that exited.
   */
  async metrics(): Promise<string> {
    const live = [...this.workers].filter((worker) => worker.isConnected());
    const answers = await Promise.all(live.map((worker) => this.ask(worker, { t: 'metrics' }, (m) => m.t === 'metrics', STATS_TIMEOUT_MS)));
    let answered = 0;
    live.forEach((worker, i) => {
      const answer = answers[i];
      // One that exited meanwhile is retired already: its answer would count twice.
      if (answer?.t !== 'metrics' || !this.workers.has(worker)) return;
      this.metricsSum.update(worker.id, answer.metrics);
      answered++;
    });
    const gauge = new Gauge('metaroute_extproc_workers_answered', 'ext_proc workers whose metrics this scrape got in time (the others count with their last answer)');
    gauge.set(answered);
    return this.metricsSum.render() + gauge.render();
  }

  /**
   * Lets every worker use a change that needed other subset selectors (Envoy has them now);
   * resolves when each has confirmed, so that the old selectors are dropped only after no
   * worker writes them any more.
   */
  async switched(what: string): Promise<void> {
    const live = [...this.workers].filter((worker) => worker.isConnected());
    const answers = await Promise.all(live.map((worker) => this.ask(worker, { t: 'switched', what }, (m) => m.t === 'switched' && m.what === what, SWITCH_TIMEOUT_MS)));
    const late = live.filter((_, i) => !answers[i]).map((worker) => worker.id);
    if (late.length > 0) this.log.warn({ event: 'worker.switch.late', what, workers: late }, 'ext_proc workers did not confirm a switch in time');
  }

  /** Sends `message` and resolves with the worker's matching answer, or undefined after `timeoutMs`. */
  private ask(worker: Worker, message: ToWorker, matches: (answer: FromWorker) => boolean, timeoutMs: number): Promise<FromWorker | undefined> {
    return new Promise((resolve) => {
      const done = (answer: FromWorker | undefined) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve(answer);
      };
      const onMessage = (answer: FromWorker) => {
        if (matches(answer)) done(answer);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      worker.on('message', onMessage);
      worker.send(message, (error) => error && done(undefined));
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const retry of this.retries) clearTimeout(retry);
    this.unwatch?.();
    await Promise.all([...this.workers].map((worker) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => worker.kill('SIGKILL'), STOP_GRACE_MS);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.send({ t: 'stop' } satisfies ToWorker);
    })));
  }

  private fork(): Promise<number> {
    const worker = cluster.fork();
    this.workers.add(worker);
    let served = false;
    let exited = false;
    const ready = new Promise<number>((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        // A 'ready' read after the exit (IPC still held it) is from a worker that serves no more.
        if (message.t !== 'ready' || served || exited) return;
        served = true;
        this.answering++;
        if (this.phase) worker.send({ t: 'phase', phase: this.phase } satisfies ToWorker);
        resolve(message.port);
      });
      worker.once('exit', (code, signal) => {
        exited = true;
        this.workers.delete(worker);
        this.metricsSum.retire(worker.id);
        // One that never served fails the start, or its replacement's try: no restart loop over a bad config at start.
        if (!served) return reject(new Error(`ext_proc worker ${worker.id} exited (${signal ?? code}) before serving`));
        this.answering--;
        if (this.stopping) return;
        this.log.warn({ event: 'worker.exited', worker: worker.id, code, signal }, 'ext_proc worker exited; starting another');
        this.replace(1);
      });
    });
    worker.once('online', () => void this.sendSnapshot(worker));
    return ready;
  }

  /** Starts a worker in place of one that died, trying again with a growing delay until one serves. */
  private replace(attempt: number): void {
    if (this.stopping) return;
    this.fork().catch((error: Error) => {
      if (this.stopping) return;
      const retryInMs = Math.min(1000 * 2 ** (attempt - 1), MAX_RETRY_MS);
      this.log.error({ event: 'worker.failed', err: error, attempt, retryInMs }, 'ext_proc worker failed to start; trying again');
      const retry = setTimeout(() => {
        this.retries.delete(retry);
        this.replace(attempt + 1);
      }, retryInMs);
      this.retries.add(retry);
    });
  }

  /**
   * The whole store, in chunks; events after it follow through `forward`. Events forwarded before
   * the list resolved are sent ahead of it (the snapshot holds them), so every event after it is
   * newer: the worker needs no revision to tell, which a store whose etcd was replaced renumbers.
   */
  private async sendSnapshot(worker: Worker): Promise<void> {
    const { entries: all, revision } = await this.store.list('');
    const entries = all.filter((entry) => !entry.key.startsWith(LIVENESS_PREFIX)); // the primary's business: it hears heartbeats
    this.flush();
    for (let from = 0; from === 0 || from < entries.length; from += INIT_CHUNK) {
      const last = from + INIT_CHUNK >= entries.length;
      worker.send({ t: 'init', entries: entries.slice(from, from + INIT_CHUNK), revision, last } satisfies ToWorker);
    }
  }

  private forward(event: StoreEvent): void {
    if (this.pending.length === 0) setImmediate(() => this.flush());
    this.pending.push(event);
  }

  private flush(): void {
    const events = this.pending;
    if (events.length === 0) return;
    this.pending = [];
    this.broadcast({ t: 'events', events });
  }

  private broadcast(message: ToWorker): void {
    for (const worker of this.workers) if (worker.isConnected()) worker.send(message);
  }
}
