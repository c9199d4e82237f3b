import { api, startApp } from '../support/app';
import { expectNoLostUpdate, racingPuts } from '../support/rule-race';

const RULES = 'rules:\n  - name: all\n    service: shop\n    destinations: [{ name: d, labels: { version: gray } }]\n';

let env: Awaited<ReturnType<typeof startApp>>;
beforeAll(async () => {
  env = await startApp();
});
afterAll(() => env.app.stop());

test('an empty or blank PUT /v1/rules body is refused with 400 and deletes nothing; `rules: []` clears on purpose', async () => {
  expect((await api(env.admin, 'PUT', '/v1/rules', RULES)).json).toEqual({ version: 1 });
  // What `curl -X PUT --data-binary @missing.yaml` sends: no body at all.
  const missing = await fetch(`${env.admin}/v1/rules`, { method: 'PUT' });
  expect(missing.status).toBe(400);
  const refusal = (await missing.json()) as { error: string };
  expect(refusal.error).toContain('the rule document is empty');
  expect(refusal.error).toContain('send `rules: []`');
  for (const blank of ['', ' \n\t\n']) {
    const answer = await api(env.admin, 'PUT', '/v1/rules', blank);
    expect([answer.status, answer.json.error]).toEqual([400, refusal.error]);
  }
  expect((await api(env.admin, 'GET', '/v1/rules')).json).toMatchObject({ version: 1, text: RULES });

  expect((await api(env.admin, 'PUT', '/v1/rules', 'rules: []\n')).json).toEqual({ version: 2 });
  expect((await api(env.admin, 'GET', '/v1/rules')).json).toMatchObject({ version: 2, text: 'rules: []\n' });
});

test('POST /v1/rules/check says the same of a blank body, and a comment-only document stays a valid empty rule set', async () => {
  expect((await api(env.admin, 'POST', '/v1/rules/check', ' \n')).json).toEqual({ ok: false, errors: [{ path: '', message: expect.stringContaining('send `rules: []`') }] });
  expect((await api(env.admin, 'POST', '/v1/rules/check', '# no rules yet\n')).json).toEqual({ ok: true, errors: [] });
});

test('concurrent PUTs on the embedded store: each stored document gets its own version, the others answer 409', async () => {
  for (let round = 0; round < 3; round++) await expectNoLostUpdate([env.admin], await racingPuts([env.admin], 8, `round${round}`));
});

test('If-Match: a PUT naming the version it read is stored only while that version is live (412 otherwise); a malformed one is a 400', async () => {
  const read = await fetch(`${env.admin}/v1/rules`);
  const etag = read.headers.get('etag')!;
  const { version } = (await read.json()) as { version: number };
  expect(etag).toBe(`"${version}"`);
  const put = (ifMatch: string, text: string) => fetch(`${env.admin}/v1/rules`, { method: 'PUT', headers: { 'content-type': 'application/yaml', 'if-match': ifMatch }, body: text });
  expect(await (await put(etag, RULES)).json()).toEqual({ version: version + 1 }); // an editor's first apply
  const stale = await put(etag, 'rules: []\n'); // a second editor that read the same version
  expect([stale.status, ((await stale.json()) as { error: string }).error]).toEqual([412, `the rules are at version ${version + 1}, not ${version} (If-Match): nothing was stored; read them and try again`]);
  expect((await api(env.admin, 'GET', '/v1/rules')).json).toMatchObject({ version: version + 1, text: RULES });
  expect((await put('*', 'rules: []\n')).status).toBe(200);
  const malformed = await put('W/"3"', RULES);
  expect([malformed.status, ((await malformed.json()) as { error: string }).error]).toEqual([400, `If-Match must be the rules' version as GET /v1/rules's ETag gives it ("3"), got "W/\\"3\\""`]);
});

test('If-Match: of several PUTs racing with the version they all read, exactly one is stored; the others answer 412', async () => {
  for (let round = 0; round < 3; round++) {
    const { version } = (await api(env.admin, 'GET', '/v1/rules')).json as { version: number };
    const answers = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
      // Staggered by a millisecond or two: each arrives while an earlier one may be mid-store.
      await new Promise((resolve) => setTimeout(resolve, i % 3));
      const response = await fetch(`${env.admin}/v1/rules`, { method: 'PUT', headers: { 'content-type': 'application/yaml', 'if-match': `"${version}"` }, body: `rules:\n  - { name: race${round}-${i}, service: shop, destinations: [{ name: d, labels: { v: "${i}" } }] }\n` });
      return response.status;
    }));
    expect(answers.filter((s) => s === 200)).toHaveLength(1);
    expect(answers.filter((s) => s === 412)).toHaveLength(5);
    expect((await api(env.admin, 'GET', '/v1/rules')).json.version).toBe(version + 1);
  }
});
