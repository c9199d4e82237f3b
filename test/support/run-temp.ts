import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * One temporary folder for the whole test run, made the run's TMPDIR: every folder a test,
 * a worker or a process it starts (metaroute, Envoy, etcd, a browser) makes with
 * `os.tmpdir()` lands in it, and the teardown removes it at once. Tests that stop early (a
 * failure, a killed Envoy) used to leave about a thousand folders in /tmp per run.
 */
export function makeRunTemp(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-jest-'));
  process.env.TMPDIR = root; // workers and the processes tests start inherit it
  return root;
}

export function removeRunTemp(root: string): void {
  try {
    // rmSync unlinks symbolic links (copies link the repository's node_modules) without following them.
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    // A process a test failed to stop may still write into it; what is left is no test failure.
    console.warn(`could not remove the test run's temporary folder ${root}: ${(err as Error).message}`);
  }
}
