import { makeRunTemp } from './run-temp';
import { SHARED_CLI_ENV, transpileCli } from './transpile';

/**
 * Gives the run its own temporary folder (run-temp.ts), and transpiles the CLI once for every
 * suite of the run (`sharedCli()`); the teardown removes both.
 */
export default function globalSetup(): void {
  const tempRoot = makeRunTemp();
  const bin = transpileCli();
  process.env[SHARED_CLI_ENV] = bin.main; // workers start after this and inherit it
  Object.assign(globalThis, { metarouteTestRun: { bin, tempRoot } });
}
