import { api, rawJson, startApp } from '../support/app';

/** Hostile and malformed JSON on the admin API: always a 4xx naming the field, never a 500, never a change. */
let env: Awaited<ReturnType<typeof startApp>>;
beforeAll(async () => {
  env = await startApp();
});
afterAll(() => env.app.stop());

const raw = (method: string, path: string, text: string) => rawJson(env.admin, method, path, text);

describe('POST /explain with wrong types', () => {
  test.each([
    ['{"service": {"a": 1}}', 'service: must be a string'],
    ['{"service": 5}', 'service: must be a string'],
    ['{"headers": ["x"]}', 'headers: must be an object'],
    ['{"headers": {"x-user": 1}}', 'headers.x-user: must be a string'],
    ['{"caller": "web"}', 'caller: must be an object'],
    ['{"caller": {"service": ["web"]}}', 'caller.service: must be a string'],
    ['{"caller": {"namespace": null}}', 'caller.namespace: must be a string'],
    ['{"caller": {"labels": {"zone": {"x": 1}}}}', 'caller.labels.zone: must be a string'],
    ['{"claims": "vip"}', 'claims: must be an object'],
    ['{"servce": "shop"}', 'servce: unknown field (expected one of cluster, service, authority, path, method, headers, caller, side, claims, sourceAddress)'],
    ['[]', 'body must be a JSON object'],
    ['null', 'body must be a JSON object'],
  ])('%s -> 400 %s', async (body, error) => {
    const answer = await raw('POST', '/explain', body);
    expect(answer.status).toBe(400);
    expect([answer.json.error, ...answer.json.details]).toContain(error);
  });
});

describe('POST /v1/heartbeats bodies of another shape', () => {
  test.each([
    // A field beside the list was taken without a word; a misspelt list met only "instances: must be a list".
    ['{"instances": [], "ttlSeconds": 5}', ['ttlSeconds: unknown field (instances)']],
    ['{"instance": [{"service": "shop", "id": "a"}]}', ['instance: unknown field (instances)', 'instances: required, a list of {namespace, service, id}']],
    ['{}', ['instances: required, a list of {namespace, service, id}']],
    ['{"instances": {}}', ['instances: must be a list']],
    ['[]', ['body: must be an object {"instances": [...]}']],
  ])('%s -> 400 %j', async (body, details) => {
    const answer = await raw('POST', '/v1/heartbeats', body);
    expect([answer.status, answer.json.details]).toEqual([400, details]);
  });
});

describe('a key given twice in one object of a JSON body', () => {
  const REASON = 'repeated in one object (JSON readers differ on which one counts)';
  test.each([
    // JSON.parse keeps the last: this registered cart.
    ['POST', '/v1/instances', '{"service":"shop","host":"10.0.0.1","port":1,"service":"cart"}', `body: key "service" ${REASON}`],
    ['POST', '/v1/instances', '{"service":"shop","host":"10.0.0.1","port":1,"metadata":{"user":"A","user":"B"}}', `metadata: key "user" ${REASON}`],
    ['POST', '/v1/instances/batch', '{"register":[{"service":"shop","host":"10.0.0.1","port":1},{"service":"shop","host":"10.0.0.2","port":1,"port":2}]}', `register[1]: key "port" ${REASON}`],
    ['POST', '/v1/instances/batch', '{"deregister":[{"service":"shop","id":"a","id":"b"}]}', `deregister[0]: key "id" ${REASON}`],
    ['PUT', '/v1/routers/lane/config', '{"keys":["env"],"keys":["user"]}', `body: key "keys" ${REASON}`],
    ['POST', '/explain', '{"service":"shop","headers":{"x-user":"A","x-user":"B"}}', `headers: key "x-user" ${REASON}`],
  ])('%s %s %s -> 400', async (method, path, body, error) => {
    const answer = await raw(method, path, body);
    expect([answer.status, answer.json.error]).toEqual([400, error]);
    expect(env.app.registry.snapshot().services.size).toBe(0);
  });

  test('a heartbeat call is not scanned: it stores nothing, and the scan would nearly double its reading', async () => {
    const answer = await raw('POST', '/v1/heartbeats', '{"instances":[{"service":"shop","id":"a","id":"b"}]}');
    expect([answer.status, answer.json]).toEqual([200, { alive: 0, unknown: [{ namespace: 'default', service: 'shop', id: 'b' }] }]);
  });
});

describe('query parameters a route does not read, or gives twice', () => {
  test.each([
    // A typo listed every instance of every service; a repeated service used only its first value.
    ['/v1/instances?servce=shop', 'unknown query parameter(s): servce (expected service, namespace)'],
    ['/v1/instances?service=shop&service=cart', 'query parameter(s) given more than once: service'],
    ['/v1/instances?service=', 'service: empty; leave the parameter out to list every service'],
    ['/v1/instances?service=shop&namespace=', 'namespace: empty; leave the parameter out to list every namespace'],
    ['/v1/services/default/shop?limt=1', 'unknown query parameter(s): limt (expected offset, limit, filter)'],
    ['/config_dump?resource=clusters&name=shop.default&name=cart.default', 'query parameter(s) given more than once: name'],
    ['/config_dump?resurce=clusters', 'unknown query parameter(s): resurce (expected resource, name)'],
  ])('GET %s -> 400 %s', async (urlPath, error) => {
    const answer = await api(env.admin, 'GET', urlPath);
    expect([answer.status, answer.json.error]).toEqual([400, error]);
  });
});

describe('a router config that is no object, or one a router without configuration would ignore', () => {
  test.each([
    ['/v1/routers/lane/config', '[1,2]', 'a router config is a JSON object, got an array'],
    ['/v1/routers/lane/config', 'true', 'a router config is a JSON object, got true'],
    ['/v1/routers/rule/config', '{"bogus": 1}', 'router rule takes no configuration (its input is the rule document): send {}'],
    ['/v1/routers/metadata/config', '{"bogus": 1}', 'router metadata takes no configuration (its input is the rule document): send {}'],
  ])('%s %s -> 400, and GET /v1/routers still answers', async (route, body, error) => {
    const answer = await raw('PUT', route, body);
    expect(answer.status).toBe(400);
    expect([answer.json.error, ...answer.json.details]).toContain(error);
    expect((await api(env.admin, 'GET', '/v1/routers')).status).toBe(200);
  });
});

describe('lone surrogates are refused at the admin API with the field named', () => {
  test('a registration, a router config and an explain request', async () => {
    const registration = await raw('POST', '/v1/instances', '{"service": "shop", "host": "10.0.0.1", "port": 1, "metadata": {"user": "A\\ud800"}}');
    expect(registration).toEqual({ status: 400, json: { error: 'metadata.user: contains a lone UTF-16 surrogate (no valid UTF-8 form; Envoy could not parse it)', details: [] } });
    const key = await raw('POST', '/v1/instances', '{"service": "shop", "host": "10.0.0.1", "port": 1, "metadata": {"\\udc00": "A"}}');
    expect(key.json.error).toBe('metadata["\\udc00"]: contains a lone UTF-16 surrogate (no valid UTF-8 form; Envoy could not parse it)');
    const router = await raw('PUT', '/v1/routers/lane/config', '{"keys": ["env\\ud800"]}');
    expect([router.status, router.json.error]).toEqual([400, 'keys[0]: contains a lone UTF-16 surrogate (no valid UTF-8 form; Envoy could not parse it)']);
    const rules = await api(env.admin, 'PUT', '/v1/rules', 'rules:\n  - { name: r, service: shop, destinations: [{ name: d, labels: { v: "\\ud800" } }] }\n');
    expect(rules.status).toBe(400);
    expect(rules.json.details).toEqual(['api:2:70: rules[0].destinations[0].labels.v: contains a lone UTF-16 surrogate (no valid UTF-8 form; Envoy could not parse it)']);
    expect(env.app.registry.snapshot().services.size).toBe(0);
  });
});

/** mulberry32: a seeded generator, so a failing case can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** JSON text of hostile values: wrong types, lone surrogates, huge numbers, deep nesting. */
function hostile(next: () => number, depth = 0): string {
  const pick = Math.floor(next() * (depth > 3 ? 9 : 12));
  switch (pick) {
    case 0: return 'null';
    case 1: return String(Math.floor(next() * 2 ** 40) - 2 ** 39);
    case 2: return ['1e309', '-0', '0.5', '65536', '1e-400'][Math.floor(next() * 5)]!;
    case 3: return next() < 0.5 ? 'true' : 'false';
    case 4: return '"\\ud800"';
    case 5: return '""';
    case 6: return JSON.stringify('x'.repeat(Math.floor(next() * 2000)));
    case 7: return JSON.stringify(['__proto__', 'constructor', '*', 'metaroute.io/zone', 'a b', '../x', 'all'][Math.floor(next() * 7)]);
    case 8: return '['.repeat(200) + ']'.repeat(200);
    case 9: return `[${hostile(next, depth + 1)}, ${hostile(next, depth + 1)}]`;
    case 10: return `{"__proto__": ${hostile(next, depth + 1)}, "x": ${hostile(next, depth + 1)}}`;
    default: return `{${JSON.stringify(['service', 'keys', 'labels', 'user', 'a'][Math.floor(next() * 5)])}: ${hostile(next, depth + 1)}}`;
  }
}

/** A valid body with one field (at any depth) replaced by a hostile value, removed, or an unknown one added. */
function mutate(valid: unknown, next: () => number): string {
  const paths: string[][] = [];
  const walk = (v: unknown, path: string[]) => {
    paths.push(path);
    if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
  };
  walk(valid, []);
  const path = paths[Math.floor(next() * paths.length)]!;
  const marker = '@@HOSTILE@@';
  const copy = JSON.parse(JSON.stringify(valid));
  if (path.length === 0) return hostile(next);
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k];
  const last = path[path.length - 1]!;
  const roll = next();
  if (roll < 0.1) delete node[last];
  else if (roll < 0.2) node[`${last}_unknown`] = 1;
  else node[last] = marker;
  return JSON.stringify(copy).replace(`"${marker}"`, () => hostile(next));
}

const TARGETS: Array<[string, string, unknown]> = [
  ['POST', '/v1/instances', { service: 'fuzz', host: '10.0.0.1', port: 8080, metadata: { user: 'A' }, locality: { zone: 'z1' }, ttlSeconds: 30, ephemeral: true, weight: 100 }],
  ['POST', '/explain', { service: 'fuzz', headers: { 'x-user': 'A' }, caller: { service: 'web', namespace: 'default', labels: { zone: 'z1' } }, claims: { tier: 'vip' } }],
  ['PUT', '/v1/rules', { rules: [{ name: 'r', service: 'fuzz', sources: [{ arguments: [{ type: 'header', key: 'x', match: { type: 'EXACT', value: 'y' } }] }], destinations: [{ name: 'd', labels: { user: 'A' }, weight: 1 }] }], metadataRoutes: [{ service: 'fuzz', keys: ['user'] }] }],
  ['PUT', '/v1/routers/lane/config', { keys: ['env'] }],
  ['PUT', '/v1/routers/metadata/config', {}],
  ['PUT', '/v1/routers/nearby/config', { enabled: true }],
  ['PUT', '/v1/routers/canary/config', { key: 'canary' }],
];

test('fuzz: 2,100 hostile JSON bodies on every JSON endpoint get a 2xx or a 4xx with a reason, never a 500', async () => {
  for (const [t, [method, path, valid]] of TARGETS.entries()) {
    const next = random(1000 + t);
    for (let i = 0; i < 300; i++) {
      const body = mutate(valid, next);
      const response = await fetch(`${env.admin}${path}`, { method, headers: { 'content-type': 'application/json' }, body });
      const text = await response.text();
      const where = `${method} ${path} case ${i} (seed ${1000 + t}): ${body.slice(0, 300)} -> ${response.status} ${text.slice(0, 300)}`;
      if (response.status >= 500 || (response.status >= 400 && !/"error":"[^"]+"/.test(text))) throw new Error(where);
    }
  }
  expect((await api(env.admin, 'GET', '/healthz')).status).toBe(200);
  expect((await api(env.admin, 'POST', '/explain', { service: 'fuzz' })).status).toBe(200);
}, 180_000); // 2,100 HTTP round trips: seconds alone, more on a busy machine

test('POST /explain: Envoy-input fields are type-checked too', async () => {
  for (const [body, error] of [
    ['{"cluster": 1}', 'cluster: must be a string'],
    ['{"authority": ["a"]}', 'authority: must be a string'],
    ['{"path": {}}', 'path: must be a string'],
    ['{"method": true}', 'method: must be a string'],
    ['{"sourceAddress": 10}', 'sourceAddress: must be a string'],
    ['{"side": "sideways"}', 'side: must be one of edge, outbound, inbound'],
    ['{"caller": {"service": "web", "labels": {"env": "dev1"}, "transitive": ["env", "user"]}}', `caller.transitive: "user" not among caller.labels (ext_proc refuses a sidecar's streams whose metadata says so)`],
  ]) {
    const answer = await raw('POST', '/explain', body!);
    expect([body, answer.status]).toEqual([body, 400]);
    expect([answer.json.error, ...answer.json.details]).toContain(error);
  }
});
