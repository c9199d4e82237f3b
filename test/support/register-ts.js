// Lets a child `node` process run the TypeScript CLI directly, with the TypeScript compiler
// the tests already use (no build step, no extra dependency).
const ts = require('typescript');
require.extensions['.ts'] = (module, filename) => {
  const source = require('fs').readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true }, fileName: filename });
  module._compile(outputText, filename);
};
