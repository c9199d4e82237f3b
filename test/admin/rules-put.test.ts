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

/** PUT (or POST to /check) of `body` with that Content-Type, or none: a byte body makes fetch add none. */
async function send(method: 'PUT' | 'POST', urlPath: string, body: string, contentType?: string) {
  const response = await fetch(`${env.admin}${urlPath}`, { method, headers: contentType === undefined ? {} : { 'content-type': contentType }, body: contentType === undefined ? Buffer.from(body) : body });
  return { status: response.status, accept: response.headers.get('accept'), json: (await response.json()) as any };
}

test('a JSON body is read as JSON: errors at their JSON position and in its terms, and what YAML reads on (a trailing comma, a repeated key) refused', async () => {
  const json = '{"rules": [{"name": "all", "service": "shop", "destinations": [{"name": "d", "labels": {"version": "gray"}}]}]}';
  const stored = await send('PUT', '/v1/rules', json, 'application/json');
  expect(stored.status).toBe(200);
  // Its format is told, so an editor or `analyze` reads it as JSON (as YAML, a line break before a colon is an error).
  expect((await api(env.admin, 'GET', '/v1/rules')).json).toEqual({ version: stored.json.version, origin: 'api', format: 'json', text: json });
  expect((await api(env.admin, 'GET', '/v1/rules/history')).json.versions[0]).toMatchObject({ version: stored.json.version, format: 'json', text: json });
  for (const [body, contentType, detail] of [
    ['{"rules": [],\n}', 'application/json', "api:2:1: not strict JSON: trailing comma before '}'"], // YAML reads on: this was stored
    ['{"rules": [] "metadataRoutes": []}', 'application/json; charset=utf-8', 'api:1:14: not strict JSON: comma expected at "\\"metadataRoutes\\""'],
    ['{\n\t"rules": [],\n\t"rules": [{}]\n}', 'application/vnd.metaroute.rules+json', 'api:3:2: key "rules" repeated in one object (JSON readers differ on which one counts)'],
    ['{"rules": [{"name": "r", "service": "shop",\n  "destinations": [{"name": "d", "labels": {"v": "1"}, "weight": "x"}]}]}', 'Application/JSON', 'api:2:66: rules[0].destinations[0].weight: must be an integer >= 0, got a string "x"'],
  ]) {
    const refused = await send('PUT', '/v1/rules', body!, contentType);
    expect([refused.status, refused.json.details]).toEqual([400, [detail]]);
  }
  // The live document's very text, sent as JSON, is no JSON: not taken for the live one.
  expect((await api(env.admin, 'PUT', '/v1/rules', 'rules: []\n')).status).toBe(200);
  const same = await send('PUT', '/v1/rules', 'rules: []\n', 'application/json');
  expect([same.status, same.json.details]).toEqual([400, ['api:1:1: not strict JSON: invalid symbol at "rules"']]);
  const checked = await send('POST', '/v1/rules/check', '{"rules": [],\n}', 'application/json');
  expect(checked.json).toEqual({ ok: false, errors: [{ path: '', line: 2, column: 1, message: "not strict JSON: trailing comma before '}'" }] });
});

test('YAML types, no type, text/plain (fetch\'s) and curl\'s form default are read as YAML; another type is a 415 with the accepted ones in Accept', async () => {
  for (const contentType of ['application/yaml', 'application/x-yaml', 'text/yaml; charset=utf-8', undefined, 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded']) {
    const text = `rules:\n  - { name: all, service: shop, destinations: [{ name: d, labels: { version: ${contentType?.replace(/\W/g, '') ?? 'none'} } }], }\n`; // YAML's trailing comma
    expect([contentType, (await send('PUT', '/v1/rules', text, contentType)).status]).toEqual([contentType, 200]);
    expect((await api(env.admin, 'GET', '/v1/rules')).json).toMatchObject({ format: 'yaml', text });
    expect((await send('POST', '/v1/rules/check', text, contentType)).json).toEqual({ ok: true, errors: [] });
  }
  const { version } = (await api(env.admin, 'GET', '/v1/rules')).json;
  for (const [method, urlPath] of [['PUT', '/v1/rules'], ['POST', '/v1/rules/check']] as const) {
    for (const contentType of ['application/xml', 'multipart/form-data; boundary=x']) {
      const refused = await send(method, urlPath, RULES, contentType);
      expect(refused).toEqual({ status: 415, accept: 'application/yaml, application/json', json: { error: `a rule document is YAML or JSON: send it with Content-Type application/yaml or application/json, not ${JSON.stringify(contentType.split(';')[0])}`, details: [] } });
    }
  }
  expect((await api(env.admin, 'GET', '/v1/rules')).json.version).toBe(version);
});
