import { parentPort } from 'node:worker_threads';
import { checkRules } from './index';

/** The rules worker's side (app/rules-checker.ts): parse and validate a document off the routing thread. */
parentPort!.postMessage('ready');
parentPort!.on('message', (job: { id: number; text: string; origin: string }) => {
  parentPort!.postMessage({ id: job.id, result: checkRules(job.text, job.origin) });
});
