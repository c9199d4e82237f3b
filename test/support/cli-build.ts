import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Transpiles src/ (per file, no type check) into a temporary dist/ laid out like the real
 * build, so the test runs the actual `metaroute` entry point without depending on `npm run
 * build` or on the state of dist/.
 */
export function transpileCli(): { main: string; cleanup(): void } {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-cli-bin-'));
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
  // Module resolution and the proto loader look beside dist/, as in the repository.
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'));
  fs.symlinkSync(path.join(ROOT, 'protos'), path.join(out, 'protos'));
  return {
    main: path.join(out, 'dist', 'cli', 'main.js'),
    cleanup: () => {
      // Unlink the symlinks first so removing the tree can never reach the repository.
      for (const link of ['node_modules', 'protos']) fs.unlinkSync(path.join(out, link));
      fs.rmSync(out, { recursive: true, force: true });
    },
  };
}

