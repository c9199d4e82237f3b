import { removeRunTemp } from './run-temp';
import type { transpileCli } from './transpile';

export default function globalTeardown(): void {
  const run = (globalThis as { metarouteTestRun?: { bin: ReturnType<typeof transpileCli>; tempRoot: string } }).metarouteTestRun;
  if (!run) return;
  run.bin.cleanup();
  removeRunTemp(run.tempRoot);
}
