import { SHARED_CLI_ENV, transpileCli } from './transpile';

/** Transpiles the CLI once for every suite of the run (`sharedCli()`); the teardown removes it. */
export default function globalSetup(): void {
  const bin = transpileCli();
  process.env[SHARED_CLI_ENV] = bin.main; // workers start after this and inherit it
  (globalThis as { metarouteSharedCli?: typeof bin }).metarouteSharedCli = bin;
}
