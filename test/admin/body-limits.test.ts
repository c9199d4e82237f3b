import { instanceListChunks } from '../../src/admin/instance-list';
import { MAX_DEPTH, MAX_VALUES } from '../../src/admin/json-in-steps';
import { MAX_LABELS } from '../../src/model/instance';
import { api, rawJson, startApp } from '../support/app';

/**
 * Bodies within the 1 MiB limit that held the event loop serving ext_proc for 60-380 ms
 * (bench/admin/hostile-bodies.js): refused before they are parsed or registered, with the
 * limit named, and nothing changes. The server runs in this process, so its loop is this one's.
 */
let env: Awaited<ReturnType<typeof startApp>>;
beforeAll(async () => {
  env = await startApp();
});
afterAll(() => env.app.stop());

const raw = (method: string, path: string, text: string) => rawJson(env.admin, method, path, text);

const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
const instance = (i: number, extra: object = {}) => ({ service: 'limits', id: `i${i}`, host: `10.9.${i >> 8}.${i & 255}`, port: 80, ephemeral: false, ...extra });

describe('an instance has at most MAX_LABELS labels', () => {
  test('one more is a 400 naming the count, alone or in a batch; the limit itself registers', async () => {
    const over = await api(env.admin, 'POST', '/v1/instances', instance(1, { metadata: labels(MAX_LABELS + 1) }));
    expect([over.status, over.json.details]).toEqual([400, [`metadata: ${MAX_LABELS + 1} entries, at most ${MAX_LABELS}`]]);
    const batch = await api(env.admin, 'POST', '/v1/instances/batch', { register: [instance(2), instance(3, { metadata: labels(1000) })] });
    expect([batch.status, batch.json.details]).toEqual([400, [`register[1].metadata: 1000 entries, at most ${MAX_LABELS}`]]);
    expect((await api(env.admin, 'GET', '/v1/instances?service=limits')).json.instances).toEqual([]);
    expect((await api(env.admin, 'POST', '/v1/instances', instance(4, { metadata: labels(MAX_LABELS) }))).status).toBe(200);
  });
});

describe('bodies nested or wide past the limits are refused before they are parsed', () => {
  const deep = (levels: number) => `{"service":"limits","host":"10.9.0.1","port":80,"metadata":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
  test.each([
    ['nested one level too deep', '/v1/instances', 'POST', deep(MAX_DEPTH + 1), `body: nested deeper than ${MAX_DEPTH} levels`],
    ['nested 500,000 levels', '/v1/instances', 'POST', deep(500_000), `body: nested deeper than ${MAX_DEPTH} levels`],
    ['an object of MAX_VALUES + 1 keys', '/explain', 'POST', JSON.stringify({ service: 'limits', headers: labels(MAX_VALUES + 1) }), `body: more than ${MAX_VALUES} values outside its top-level lists`],
    ['a router config of 70,000 keys', '/v1/routers/lane/config', 'PUT', JSON.stringify(labels(70_000)), `body: more than ${MAX_VALUES} values outside its top-level lists`],
    ['a heartbeat entry of 70,000 keys', '/v1/heartbeats', 'POST', JSON.stringify({ instances: [{ service: 'limits', id: 'i4', ...labels(70_000) }] }), `body: more than ${MAX_VALUES} values in one entry of a list`],
    ['33 lists of 9,999 entries, none a top-level one', '/v1/instances', 'POST', JSON.stringify({ service: 'limits', x: Object.fromEntries(Array.from({ length: 33 }, (_, b) => [`b${b}`, Array.from({ length: 9999 }, () => ({}))])) }), `body: more than ${MAX_VALUES} values outside its top-level lists`],
    ['a batch entry holding 33 lists of 9,999', '/v1/instances/batch', 'POST', JSON.stringify({ register: [{ service: 'limits', x: Array.from({ length: 33 }, () => Array.from({ length: 9999 }, () => ({}))) }] }), `body: more than ${MAX_VALUES} values in one entry of a list`],
  ])('%s', async (_name, path, method, text, error) => {
    const answer = await raw(method, path, text);
    expect(answer.status).toBe(400);
    expect(answer.json.error).toMatch(new RegExp(`^${error.replace(/[()[\]]/g, '\\$&')} \\(at character \\d+\\)$`));
  });

  test('within the limits a body is read: MAX_DEPTH levels; an object of 10,000 keys', async () => {
    const deepest = await raw('POST', '/v1/instances', deep(MAX_DEPTH));
    expect([deepest.status, deepest.json.details]).toEqual([400, ['metadata: must be a map of string to string']]);
    expect((await api(env.admin, 'POST', '/v1/instances', instance(5))).status).toBe(200);
    const widest = await raw('POST', '/explain', JSON.stringify({ service: 'limits', headers: labels(10_000) }));
    expect(widest.status).toBe(200);
  });

  test("a batch's own lists are read a run at a time, each entry counted alone: 10,000 entries register", async () => {
    const register = Array.from({ length: 10_000 }, (_, i) => instance(1000 + i));
    const answer = await api(env.admin, 'POST', '/v1/instances/batch', { register });
    expect(answer.status).toBe(200);
    const deregistered = await api(env.admin, 'POST', '/v1/instances/batch', { deregister: register.map(({ service, id }) => ({ service, id })) });
    expect(deregistered.status).toBe(200);
  });
});

describe('a large body that JSON.parse of the whole would take long over', () => {
  const empties = Array.from({ length: 60_000 }, () => '{}').join(',');
  test('a repeated key is refused, as in a small one', async () => {
    const answer = await raw('POST', '/v1/instances/batch', `{"register":[${empties}],"register":[]}`);
    expect([answer.status, answer.json.error]).toEqual([400, 'body: key "register" repeated in one object (JSON readers differ on which one counts)']);
  });

  test('a key repeated in the last of 10,000 registrations is named, and nothing is registered', async () => {
    const register = Array.from({ length: 10_000 }, (_, i) => `{"service":"limits","host":"10.8.${i >> 8}.${i & 255}","port":80,"metadata":{"user":"u${i}","zone":"z1"}}`);
    register[9999] = register[9999]!.replace('"service":"limits"', '"service":"limits","service":"other"');
    const text = `{"register":[${register.join(',')}]}`;
    expect(text.length).toBeGreaterThan(800_000);
    const answer = await raw('POST', '/v1/instances/batch', text);
    expect([answer.status, answer.json.error]).toEqual([400, 'register[9999]: key "service" repeated in one object (JSON readers differ on which one counts)']);
    expect(env.app.registry.snapshot().services.get('default/other')).toBeUndefined();
  });

  test('a syntax error at its end is a 400 naming where, in the body', async () => {
    const text = `{"register":[${empties}],"x":}`;
    const answer = await raw('POST', '/v1/instances/batch', text);
    expect([answer.status, answer.json.error]).toEqual([400, expect.stringMatching(/^body is not valid JSON: Unexpected token '}'/)]);
  });
});

describe('a batch of many bad entries', () => {
  test('validation stops after 100 errors, says where, and the answer stays small', async () => {
    const bad = { service: '', host: 'x', port: 0, weight: -1, ttlSeconds: 0 };
    const answer = await api(env.admin, 'POST', '/v1/instances/batch', { register: Array.from({ length: 5000 }, () => bad), deregister: [{ service: 'limits', id: 'i4' }] });
    expect(answer.status).toBe(400);
    const details = answer.json.details as string[];
    expect(details.length).toBeLessThanOrEqual(105);
    expect(details[0]).toBe('register[0].service: must be a name of letters, digits, \'_\', \'.\', \'-\' (starting with a letter or digit, at most 253), got ""');
    expect(details.at(-1)).toMatch(/^validation stopped at register\[\d+\], after 10\d errors$/);
    expect((await api(env.admin, 'GET', '/v1/instances?service=limits')).json.instances.map((i: { id: string }) => i.id).sort()).toEqual(['i4', 'i5']);
  });

  test('so does a list of bad heartbeats', async () => {
    const answer = await api(env.admin, 'POST', '/v1/heartbeats', { instances: Array.from({ length: 5000 }, () => ({ service: 'limits', id: '' })) });
    expect(answer.status).toBe(400);
    expect(answer.json.details.length).toBe(101);
    expect(answer.json.details.at(-1)).toBe('validation stopped at instances[100], after 100 errors');
  });
});

describe('GET /v1/instances is written a part at a time', () => {
  const listed = (i: number) => instance(20_000 + i, { service: 'listed', host: `10.8.${i >> 8}.${i & 255}`, metadata: { user: `u${i}` } });
  const idsOf = (text: string) => (JSON.parse(text) as { instances: { id: string; metadata: { user: string } }[] }).instances.map((i) => `${i.id}/${i.metadata.user}`).sort();

  test('every instance once, as one JSON document', async () => {
    const register = Array.from({ length: 3000 }, (_, i) => listed(i));
    expect((await api(env.admin, 'POST', '/v1/instances/batch', { register })).status).toBe(200);
    const answer = await api(env.admin, 'GET', '/v1/instances?service=listed');
    expect(answer.status).toBe(200);
    expect(idsOf(answer.text)).toEqual(register.map((i, n) => `${i.id}/u${n}`).sort());
  });

  test('in parts of 500, of the registry when asked, however it changes between them', async () => {
    const before = idsOf((await api(env.admin, 'GET', '/v1/instances?service=listed')).text);
    const parts: string[] = [];
    for await (const part of instanceListChunks(env.app.registry, 'listed', null)) {
      parts.push(part);
      if (parts.length === 2) {
        const changes = { register: [listed(5000), { ...listed(1), metadata: { user: 'changed' } }], deregister: [{ service: 'listed', id: listed(2).id }] };
        expect((await api(env.admin, 'POST', '/v1/instances/batch', changes)).status).toBe(200);
      }
    }
    expect(parts.length).toBe(1 + 3000 / 500 + 1); // the head, the parts, the end
    expect(idsOf(parts.join(''))).toEqual(before);
  });

  test('a registry with none lists none', async () => {
    expect((await api(env.admin, 'GET', '/v1/instances?service=none')).text).toBe('{"instances":[]}');
  });
});

test('a service page filter of more than 16 terms is a 400', async () => {
  const filter = encodeURIComponent(Array.from({ length: 17 }, (_, i) => `k${i}=v`).join(' '));
  const answer = await api(env.admin, 'GET', `/v1/services/default/limits?filter=${filter}`);
  expect([answer.status, answer.json.error]).toEqual([400, 'filter: 17 terms, at most 16']);
});

describe('a body over 1 MiB', () => {
  test('is a 413 naming the limit, the connection closed after it, and nothing registered', async () => {
    const big = JSON.stringify({ ...instance(9), metadata: { pad: 'x'.repeat(2 * 1024 * 1024) } });
    const response = await fetch(`${env.admin}/v1/instances`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect([response.status, response.headers.get('connection'), await response.json()]).toEqual([413, 'close', { error: `request body over ${1024 * 1024} bytes`, details: [] }]);
    expect((await api(env.admin, 'GET', '/v1/instances?service=limits')).json.instances.map((i: { id: string }) => i.id)).not.toContain('i9');
  });
});
