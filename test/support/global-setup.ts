import { makeRunTemp } from './run-temp';
import { SHARED_CLI_ENV, transpileCli } from './transpile';

/** What the teardown undoes: the TMPDIR before the run, the run's temporary folder, the transpiled CLI. */
export interface TestRun {
  readonly tmpdirBefore: string | undefined;
  readonly tempRoot: string;
  bin?: ReturnType<typeof transpileCli>;
}

/**
 * Gives the run its own temporary folder (run-temp.ts), and transpiles the CLI once for every
 * suite of the run (`sharedCli()`); the teardown removes both.
 */
export default function globalSetup(): void {
  const tmpdirBefore = process.env.TMPDIR;
  const run: TestRun = { tmpdirBefore, tempRoot: makeRunTemp() };
  Object.assign(globalThis, { metarouteTestRun: run }); // before anything that may throw: the teardown still removes the folder
  run.bin = transpileCli();
  process.env[SHARED_CLI_ENV] = run.bin.main; // workers start after this and inherit it
}
