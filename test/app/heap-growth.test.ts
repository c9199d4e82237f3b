import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const REPO = path.join(__dirname, '..', '..');

/** The factor V8 sized the old generation's limit with at each full GC after the script's marker (`--trace-gc-verbose`). */
function factorsAfterMarker(script: string, nodeArgs: string[] = []): string[] {
  const run = spawnSync(process.execPath, [...nodeArgs, '--expose-gc', '--trace-gc-verbose', '-r', path.join(REPO, 'test', 'support', 'register-ts.js'), '-e', script], { cwd: REPO, encoding: 'utf8', timeout: 20000 });
  expect(run.status).toBe(0);
  expect(run.stdout).toContain('\nMARK\n');
  const after = run.stdout.slice(run.stdout.indexOf('\nMARK\n'));
  return [...after.matchAll(/\[HeapController\] Limit: .*\(([\d.]+)\)$/gm)].map((m) => m[1]!);
}

const SET_THEN_GC = `
  require('./src/app/heap-growth.ts').setHeapGrowth();
  console.log('MARK'); gc();
`;

test('V8 sizes the heap by 40% growth at the next full GC', () => {
  expect(factorsAfterMarker(SET_THEN_GC)).toEqual(['1.4']);
  // Without it V8 picks its own (4x for this small, idle heap): the line read is the one set.
  const own = factorsAfterMarker("console.log('MARK'); gc();");
  expect(own).toHaveLength(1);
  expect(own[0]).not.toBe('1.4');
});

test('a process started with --heap-growing-percent keeps its own', () => {
  expect(factorsAfterMarker(SET_THEN_GC, ['--heap-growing-percent=90'])).toEqual(['1.9']);
});
