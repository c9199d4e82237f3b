import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const repo = path.join(__dirname, '..', '..');
const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');

/** What `tsc --noEmit -p <project>` printed and its exit status. */
async function typeCheck(project: string): Promise<{ status: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [tsc, '--noEmit', '-p', path.join(repo, project)], { cwd: repo, timeout: 120_000 });
    return { status: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string; message: string };
    return { status: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? failed.message}` };
  }
}

// ts-jest only transpiles (test/tsconfig.json's isolatedModules: a type check per worker per file
// cost CI minutes), so the types are checked here, once per run, the three compilers at once.
const PROJECTS = [
  ['tsconfig.json', 'the sources as `npm run build` compiles them'],
  ['test/tsconfig.json', 'the sources and the tests (unused names refused in both)'],
  ['loadtest/tsconfig.json', 'the k6 scripts, strict, against @types/k6 (k6 itself only strips types)'],
] as const;
const checks = new Map<string, ReturnType<typeof typeCheck>>();
beforeAll(() => {
  for (const [project] of PROJECTS) checks.set(project, typeCheck(project));
});

test.each(PROJECTS)('tsc --noEmit -p %s passes with no output: %s', async (project) => {
  expect(await checks.get(project)).toEqual({ status: 0, output: '' });
}, 150_000);
