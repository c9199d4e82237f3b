import * as path from 'node:path';
import { loadRouterModule } from '../../src/routing/plugins';
import { decide, engineWith, request } from './helpers';

/** The example module of docs/ROUTERS.md works as documented. */
const MODULE = path.join(__dirname, 'fixtures', 'version-pin-router.js');

test('the documented example router loads, narrows by labels, and refuses a bad config', () => {
  const router = loadRouterModule(MODULE);
  router.configure({});
  const engine = engineWith(
    [
      { service: 'shop', port: 1, metadata: { version: 'v1' } },
      { service: 'shop', port: 2, metadata: { version: 'v2' } },
    ],
    [router],
  );
  expect(decide(engine, 'shop', request({ 'x-version': 'v2' }))).toEqual({ kind: 'subset', labels: { version: 'v2' } });
  expect(decide(engine, 'shop', request({ 'x-version': 'v9' }))).toEqual({ kind: 'pass', reason: 'no labels chosen: the whole cluster serves' });
  expect(() => router.configure({ header: 'X-Version' })).toThrow(/^version-pin\.header:/);
  expect(() => router.configure({ hedaer: 'x-app' })).toThrow('version-pin.hedaer: unknown field (expected header)');
  expect(decide(engine, 'shop', request({ 'x-version': 'v1' }))).toEqual({ kind: 'subset', labels: { version: 'v1' } });
});
