import * as os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { checkRules, packDocument, type RuleFormat } from './index';
import { WORKER_NICE } from './limits';

/** The rules worker's side (app/rules-checker.ts): parse and validate a document off the routing thread. */

// On Linux a nice value belongs to one thread (setpriority(2), BUGS): this lowers the worker
// alone, so on busy cores the event loop answering ext_proc and xDS runs before it. Nice 10
// (a tenth of a nice-0 thread's share of a contended core) rather than 19 (1.5%): starved,
// the worker would outlast CHECK_TIMEOUT_MS and valid documents would be refused. Elsewhere
// the call would lower the whole process, so it is not made; a refusal only costs the preference.
if (process.platform === 'linux') {
  try {
    os.setPriority(WORKER_NICE);
  } catch {
    // not allowed here: the worker runs at the process's priority
  }
}
parentPort!.postMessage('ready');
parentPort!.on('message', (job: { id: number; text: string; origin: string; strict: boolean; format: RuleFormat | undefined }) => {
  const checked = checkRules(job.text, job.origin, job.strict, job.format);
  parentPort!.postMessage({ id: job.id, result: checked.ok ? { ok: true, document: packDocument(checked.document) } : checked });
});
