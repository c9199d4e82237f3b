import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadRouterModule } from '../../src/routing/plugins';
import { decide, engineWith, request } from './helpers';

/** The example router of README.md ("Your own router"), loaded as a user would save it. */
function readmeRouterModule(): string {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Your own router'));
  const code = /```js\n([\s\S]*?)```/.exec(section)![1]!;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-readme-')), 'version-pin-router.js');
  fs.writeFileSync(file, code);
  return file;
}

test("README's example router pins by header, keeps the earlier choice for a version not there, and refuses a header name ctx.header() could never match", () => {
  const router = loadRouterModule(readmeRouterModule());
  router.configure({ header: 'x-pin' });
  const engine = engineWith([{ service: 'shop', port: 1, metadata: { version: 'v1' } }, { service: 'shop', port: 2, metadata: { version: 'v2' } }], [router]);
  expect(decide(engine, 'shop', request({ 'x-pin': 'v2' }))).toEqual({ kind: 'subset', labels: { version: 'v2' } });
  // A version no instance has leaves the earlier choice (here: none) instead of an empty one that recover widens.
  expect(decide(engine, 'shop', request({ 'x-pin': 'v9' }))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
  expect(() => router.configure({ header: 'X-Pin' })).toThrow('version-pin.header: must be a lower-case header name');
  // A misspelt field is refused, not taken for the default header.
  expect(() => router.configure({ hedaer: 'x-app' })).toThrow('version-pin.hedaer: unknown field (expected header)');
  expect(decide(engine, 'shop', request({ 'x-pin': 'v1' }))).toEqual({ kind: 'subset', labels: { version: 'v1' } });
});
