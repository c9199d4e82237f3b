import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';

export const ROOT = path.resolve(__dirname, '..', '..');
// dist/console: the console as `npm run build` makes it, served by a spawned server as by one run from src/ (a dangling link where not built).
const LINKED = ['node_modules', 'protos', 'dist/console'];
/** Set by test/support/global-setup.ts to the CLI it transpiled for the whole run. */
export const SHARED_CLI_ENV = 'METAROUTE_TEST_CLI';

/**
 * Transpiles src/ (per file, no type check) into `out`/dist, laid out like the real build,
 * so tests run the actual `metaroute` entry point without depending on `npm run build` or on
 * the state of dist/.
 */
export function transpileTo(out: string): string {
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  for (const file of walk(path.join(ROOT, 'src'))) {
    const js = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, resolveJsonModule: true },
      fileName: file,
    }).outputText;
    const target = path.join(out, 'dist', path.relative(path.join(ROOT, 'src'), file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, js);
  }
  return path.join(out, 'dist', 'cli', 'main.js');
}

/** The CLI transpiled into a temporary folder beside the repository's node_modules, protos/ and dist/console (symlinked) and package.json. */
export function transpileCli(): { main: string; cleanup(): void } {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-bin-'));
  const main = transpileTo(out);
  for (const link of LINKED) fs.symlinkSync(path.join(ROOT, link), path.join(out, link));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(out, 'package.json'));
  return {
    main,
    cleanup: () => {
      // Unlink the symlinks first so removing the tree can never reach the repository.
      for (const link of LINKED) fs.unlinkSync(path.join(out, link));
      fs.rmSync(out, { recursive: true, force: true });
    },
  };
}

/**
 * The CLI transpiled once per test run (jest.config.js's globalSetup), for suites that only run
 * it: each process they start loads plain JavaScript, as production runs dist/, instead of
 * loading the TypeScript compiler and transpiling src/ again (about 3 s of CPU per process).
 */
export function sharedCli(): string {
  const main = process.env[SHARED_CLI_ENV];
  if (!main || !fs.existsSync(main)) throw new Error(`${SHARED_CLI_ENV} names no transpiled CLI: run the tests through jest, whose globalSetup (test/support/global-setup.ts) makes it`);
  return main;
}
