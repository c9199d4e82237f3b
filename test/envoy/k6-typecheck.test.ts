import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** The k6 scripts in loadtest/ type-check (strict) against @types/k6: k6 itself only strips types. */
test('tsc -p loadtest/tsconfig.json passes with no output', () => {
  const repo = path.join(__dirname, '..', '..');
  const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(repo, 'loadtest', 'tsconfig.json')], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: '' });
});
