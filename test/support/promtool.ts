import { spawnSync } from 'node:child_process';
import type { Requirement } from './requires';

/** Prometheus' promtool (Debian package `prometheus`), for `check metrics` and `check rules`. */
export const PROMTOOL: Requirement = {
  what: 'promtool',
  path: spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim() || undefined,
  install: 'apt-get install -y prometheus',
};

/** Runs promtool; returns its exit status and output. */
export function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL.path!, args, { input, encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}
