import { MAX_REGEX_INPUT } from '../../src/rules/regex';
import { ExtProcClient, lbLabels } from '../support/extproc-client';
import { api, startApp, until } from '../support/app';

/**
 * A REGEX tests values up to MAX_REGEX_INPUT characters; a longer one fails it. Without the
 * limit, the accepted rule below held the event loop 0.6-0.8 s for each request carrying a
 * 60 KB x-id of random a/b (re2js building DFA states for every character).
 */
let env: Awaited<ReturnType<typeof startApp>>;
let client: ExtProcClient;

beforeAll(async () => {
  env = await startApp();
  client = new ExtProcClient(env.extProc);
  await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'gray' } });
  const rules = 'rules:\n  - name: ids\n    service: shop\n    sources: [{ arguments: [{ type: header, key: x-id, match: { type: REGEX, value: "^[ab]+$" } }] }]\n    destinations: [{ name: gray, labels: { version: gray } }]\n';
  expect((await api(env.admin, 'PUT', '/v1/rules', rules)).status).toBe(200);
  await until(() => env.app.engine.current.rules.inbound.size === 1 && env.app.engine.current.registry.services.size === 1, 'setup');
});

afterAll(async () => {
  client.close();
  await env.app.stop();
});

const request = (id: string) => client.request({ ':method': 'GET', ':path': '/', ':authority': 'shop', 'x-id': id });

test('a value up to the limit is tested', async () => {
  expect(lbLabels(await request('ab'.repeat(MAX_REGEX_INPUT / 2)))).toEqual({ version: 'gray' });
});

test('a longer value fails the REGEX, as an absent label does', async () => {
  expect(lbLabels(await request('ab'.repeat(MAX_REGEX_INPUT / 2) + 'a'))).toBeUndefined();
  expect(lbLabels(await request('ab'.repeat(30_000)))).toBeUndefined();
});
