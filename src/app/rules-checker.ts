import { Worker } from 'node:worker_threads';
import type { CheckedRules, RuleFormat } from '../rules';

/**
 * How long (wall time, from when the worker has it) one document may take to parse and
 * validate before its worker is stopped and the document refused. The limits in
 * rules/limits.ts keep any document far below this; it is the backstop for what they miss.
 */
export const CHECK_TIMEOUT_MS = 20_000;

/** Run from TypeScript sources (the tests), the worker transpiles them with the compiler installed beside them. */
const FROM_SOURCES = `
const { workerData } = require('node:worker_threads');
const ts = require(workerData.typescript);
const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(require('node:fs').readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file }).outputText, file);
require(workerData.entry);
`;

interface Job {
  readonly id: number;
  readonly text: string;
  readonly origin: string;
  readonly strict: boolean;
  readonly format: RuleFormat | undefined;
  readonly resolve: (result: CheckedRules) => void;
}

/**
 * Parses and validates rule documents in a worker thread, one at a time, so a large or
 * hostile document never holds the event loop that answers ext_proc and xDS. A document
 * that takes over CHECK_TIMEOUT_MS is refused and its worker stopped (the next one starts
 * afresh). The routing thread only unpacks and compiles the validated result, in slices.
 */
export class RulesChecker {
  private worker: Worker | undefined;
  /** The worker has loaded its modules: a job's time starts when it can run. */
  private ready = false;
  private readonly queue: Job[] = [];
  private running: { job: Job; timer: NodeJS.Timeout } | undefined;
  private nextId = 0;
  private closed = false;

  constructor(private readonly timeoutMs = CHECK_TIMEOUT_MS) {}

  /**
   * Starts the worker now and resolves once it has loaded its modules (or failed: check()
   * reports that), so the first document does not wait for the load and the load does not
   * compete with the first ext_proc traffic for the CPU.
   */
  warm(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const worker = this.ensureWorker();
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        worker.off('message', onMessage);
        worker.off('exit', done);
        resolve();
      };
      const onMessage = (message: unknown): void => {
        if (message === 'ready') done();
      };
      worker.on('message', onMessage);
      worker.once('exit', done);
    });
  }

  /** `strict` for a new document (validateRules); a stored one is checked without it. `format`: by the origin's name unless given (checkRules). */
  check(text: string, origin: string, strict = false, format?: RuleFormat): Promise<CheckedRules> {
    if (this.closed) return Promise.resolve(refused('the rules checker is stopped'));
    return new Promise((resolve) => {
      this.queue.push({ id: ++this.nextId, text, origin, strict, format, resolve });
      this.runNext();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.resolve(refused('the rules checker is stopped'));
    this.finish(refused('the rules checker is stopped'));
    await this.stopWorker();
  }

  private runNext(): void {
    if (this.running || this.queue.length === 0) return;
    const worker = this.ensureWorker();
    if (!this.ready) return; // runNext runs again on 'ready'
    const job = this.queue.shift()!;
    const timer = setTimeout(() => {
      void this.stopWorker();
      this.finish(refused(`took over ${this.timeoutMs} ms to parse and validate; simplify the document (fewer or simpler regexes, fewer rules)`));
    }, this.timeoutMs);
    this.running = { job, timer };
    worker.postMessage({ id: job.id, text: job.text, origin: job.origin, strict: job.strict, format: job.format });
  }

  private finish(result: CheckedRules): void {
    const running = this.running;
    if (!running) return;
    clearTimeout(running.timer);
    this.running = undefined;
    running.job.resolve(result);
    this.runNext();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const entry = require.resolve('../rules/check-worker');
    const worker = entry.endsWith('.ts')
      ? new Worker(FROM_SOURCES, { eval: true, workerData: { entry, typescript: require.resolve('typescript') } })
      : new Worker(entry);
    worker.unref(); // an idle checker never keeps the process alive
    worker.on('message', (message: 'ready' | { id: number; result: CheckedRules }) => {
      if (message === 'ready') {
        this.ready = true;
        this.runNext();
      } else if (this.running?.job.id === message.id) this.finish(message.result);
    });
    worker.on('error', (error) => {
      this.forget(worker);
      if (this.running) this.finish(refused(`the rules checker failed: ${error.message}`));
      else for (const job of this.queue.splice(0)) job.resolve(refused(`the rules checker failed: ${error.message}`));
    });
    worker.on('exit', () => this.forget(worker));
    this.worker = worker;
    this.ready = false;
    return worker;
  }

  private forget(worker: Worker): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.ready = false;
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.forget(worker);
    await worker.terminate();
  }
}

function refused(message: string): CheckedRules {
  return { ok: false, errors: [{ path: '', message }] };
}
