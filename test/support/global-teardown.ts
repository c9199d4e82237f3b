import type { TestRun } from './global-setup';
import { removeRunTemp } from './run-temp';

export default function globalTeardown(): void {
  const run = (globalThis as { metarouteTestRun?: TestRun }).metarouteTestRun;
  if (!run) return;
  run.bin?.cleanup();
  removeRunTemp(run.tempRoot);
  // `jest --watch` runs the setup again in this process: it must start from the TMPDIR it found.
  if (run.tmpdirBefore === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = run.tmpdirBefore;
}
