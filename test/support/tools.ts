import { execFileSync } from 'node:child_process';

/**
 * A system tool a test needs (promtool, envoy): its path, or undefined with the reason the
 * test is skipped. Under CI=true a missing tool is a failure, not a skip.
 */
export function requireTool(command: string, install: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    if (process.env.CI === 'true') throw new Error(`${command} is required under CI: ${install}`);
    // eslint-disable-next-line no-console
    console.warn(`skipping: ${command} not installed (${install})`);
    return undefined;
  }
}
