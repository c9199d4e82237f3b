import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AdminAuth, isLoopback, redactSecrets, type AuthConfig } from '../../src/admin/auth';
import { Agent } from '../../src/agent/agent';
import type { App } from '../../src/app/app';
import { ConfigError, DEFAULTS, loadConfig } from '../../src/config/config';
import { startApp } from '../support/app';

const TOKEN_A = 'user-a-0123456789abcdef';
const TOKEN_B = 'user-b-0123456789abcdef';
const TOKEN_SHOP = 'shop-0123456789abcdef';
const TOKEN_ADMIN = 'admin-0123456789abcdef';

const TOKEN_NET = 'net-0123456789abcdef';
const TOKEN_QUOTA = 'quota-0123456789abcdef';

const scope = { labels: {}, optionalLabels: {}, addresses: [], maxInstances: undefined, admin: false };
const AUTH: AuthConfig = {
  requireAdminAuth: 'auto',
  tokens: [
    { ...scope, token: TOKEN_A, services: ['aigc'], labels: { user: ['A'] }, optionalLabels: { 'metaroute.io/zone': ['*'] } },
    { ...scope, token: TOKEN_B, services: ['aigc'], labels: { user: ['B'] } },
    { ...scope, token: TOKEN_SHOP, services: ['default/shop'], optionalLabels: { version: ['stable'] } },
    { ...scope, token: TOKEN_NET, services: ['net'], optionalLabels: { '*': ['*'] }, addresses: ['10.1.0.0/16', 'fd00::/8'] },
    { ...scope, token: TOKEN_QUOTA, services: ['quota'], maxInstances: 2 },
    { ...scope, token: TOKEN_ADMIN, services: [], admin: true },
  ],
};

async function call(base: string, method: string, urlPath: string, token?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = typeof body === 'string' ? 'application/yaml' : 'application/json';
  const response = await fetch(`${base}${urlPath}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, text, json: text.startsWith('{') ? JSON.parse(text) : undefined, authenticate: response.headers.get('www-authenticate') };
}

const instance = (user: string | undefined, extra: Record<string, unknown> = {}) => ({
  service: 'aigc',
  host: '10.0.0.1',
  port: 9000,
  id: 'pod-1',
  metadata: user === undefined ? {} : { user },
  ...extra,
});

describe('registration tokens (loopback server with tokens)', () => {
  let env: { app: App; admin: string };
  beforeEach(async () => {
    env = await startApp({ auth: AUTH });
  });
  afterEach(() => env.app.stop());

  it('answers 401 without a token or with an unknown one', async () => {
    const missing = await call(env.admin, 'POST', '/v1/instances', undefined, instance('A'));
    expect(missing.status).toBe(401);
    expect(missing.json.error).toBe('missing Authorization: Bearer <token>');
    expect(missing.authenticate).toBe('Bearer realm="metaroute"');
    const wrong = await call(env.admin, 'POST', '/v1/instances', 'user-a-0123456789abcdeX', instance('A'));
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toBe('unknown token');
    expect((await call(env.admin, 'PUT', '/v1/instances/default/aigc/pod-1/heartbeat')).status).toBe(401);
    expect((await call(env.admin, 'DELETE', '/v1/instances/default/aigc/pod-1')).status).toBe(401);
    // Before the body is looked at, as for every registration call (a body here is refused with 400 once authenticated).
    expect((await call(env.admin, 'PUT', '/v1/instances/default/aigc/pod-1/heartbeat', undefined, { instances: [] })).status).toBe(401);
    expect((await call(env.admin, 'DELETE', '/v1/instances/default/aigc/pod-1', undefined, { deregister: [] })).status).toBe(401);
    expect((await call(env.admin, 'DELETE', '/v1/instances/default/aigc/pod-1', TOKEN_A, { deregister: [] })).status).toBe(400);
  });

  it("accepts a user's own registration and refuses another user's label, a missing label and another service", async () => {
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_A, instance('A'))).status).toBe(200);

    const otherUser = await call(env.admin, 'POST', '/v1/instances', TOKEN_A, instance('B', { id: 'pod-2' }));
    expect(otherUser.status).toBe(403);
    expect(otherUser.json.error).toBe('token may not register user=B');

    const unlabelled = await call(env.admin, 'POST', '/v1/instances', TOKEN_A, instance(undefined, { id: 'pod-3' }));
    expect(unlabelled.status).toBe(403);
    expect(unlabelled.json.error).toBe('token may not register an instance without label user');

    const otherService = await call(env.admin, 'POST', '/v1/instances', TOKEN_A, instance('A', { service: 'shop' }));
    expect(otherService.status).toBe(403);
    expect(otherService.json.error).toBe('token may not register service default/shop');

    const listed = await call(env.admin, 'GET', '/v1/instances');
    expect(listed.json.instances.map((i: { id: string }) => i.id)).toEqual(['pod-1']);
  });

  it("keeps one user's token from replacing, heartbeating or deleting another user's instance", async () => {
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_A, instance('A'))).status).toBe(200);

    const replace = await call(env.admin, 'POST', '/v1/instances', TOKEN_B, instance('B'));
    expect(replace.status).toBe(403);
    expect(replace.json.error).toBe('token may not replace user=A');
    const heartbeat = await call(env.admin, 'PUT', '/v1/instances/default/aigc/pod-1/heartbeat', TOKEN_B);
    expect(heartbeat.status).toBe(403);
    expect(heartbeat.json.error).toBe('token may not heartbeat user=A');
    const remove = await call(env.admin, 'DELETE', '/v1/instances/default/aigc/pod-1', TOKEN_B);
    expect(remove.status).toBe(403);
    expect(remove.json.error).toBe('token may not deregister user=A');
    const foreignService = await call(env.admin, 'DELETE', '/v1/instances/default/aigc/pod-1', TOKEN_SHOP);
    expect(foreignService.json.error).toBe('token may not deregister service default/aigc');

    expect((await call(env.admin, 'PUT', '/v1/instances/default/aigc/pod-1/heartbeat', TOKEN_A)).status).toBe(200);
    expect((await call(env.admin, 'DELETE', '/v1/instances/default/aigc/pod-1', TOKEN_A)).status).toBe(200);
    // In scope but gone: the agent's cue to register again.
    expect((await call(env.admin, 'PUT', '/v1/instances/default/aigc/pod-1/heartbeat', TOKEN_A)).status).toBe(404);
  });

  it('scopes by namespace: "svc" matches any namespace, "ns/svc" only its own', async () => {
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_A, instance('A', { namespace: 'team1' }))).status).toBe(200);
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_SHOP, { service: 'shop', host: '10.0.0.2', port: 1 })).status).toBe(200);
    const otherNs = await call(env.admin, 'POST', '/v1/instances', TOKEN_SHOP, { service: 'shop', namespace: 'team1', host: '10.0.0.2', port: 1 });
    expect(otherNs.json.error).toBe('token may not register service team1/shop');
  });

  it('authenticates before validating: an unauthenticated caller learns nothing about the body', async () => {
    expect((await call(env.admin, 'POST', '/v1/instances', undefined, { nonsense: true })).status).toBe(401);
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_A, { nonsense: true })).status).toBe(400);
  });

  it('on loopback (requireAdminAuth auto) leaves admin reads open, but every write needs an admin token once tokens exist', async () => {
    expect((await call(env.admin, 'GET', '/v1/instances')).status).toBe(200);
    // Explain is a read: open (an unknown callee is a 404, not a 401).
    expect((await call(env.admin, 'POST', '/explain', undefined, { service: 'aigc' })).status).toBe(404);
    expect((await call(env.admin, 'PUT', '/v1/rules', undefined, 'rules: []\n')).status).toBe(401);
    expect((await call(env.admin, 'PUT', '/v1/routers/metadata/config', undefined, {})).status).toBe(401);
    expect((await call(env.admin, 'POST', '/v1/instances', undefined, instance('A'))).status).toBe(401);
    const user = await call(env.admin, 'PUT', '/v1/rules', TOKEN_A, 'rules: []\n');
    expect(user.status).toBe(403);
    expect(user.json.error).toBe('token may not use the admin API (it needs admin: true)');
    expect((await call(env.admin, 'PUT', '/v1/rules', TOKEN_ADMIN, 'rules: []\n')).status).toBe(200);
    expect((await call(env.admin, 'PUT', '/v1/routers/metadata/config', TOKEN_ADMIN, {})).status).toBe(200);
  });

  it('refuses every label a token does not name: a user token cannot attract version=gray traffic', async () => {
    const gray = await call(env.admin, 'POST', '/v1/instances', TOKEN_A, { ...instance('A'), metadata: { user: 'A', version: 'gray' }, weight: 10000 });
    expect(gray.status).toBe(403);
    expect(gray.json.error).toBe('token may not register label version');
    const zone = await call(env.admin, 'POST', '/v1/instances', TOKEN_A, { ...instance('A'), locality: { zone: 'z1' } });
    expect(zone.status).toBe(200);
    const region = await call(env.admin, 'POST', '/v1/instances', TOKEN_A, { ...instance('A'), locality: { region: 'r1' } });
    expect(region.json.error).toBe('token may not register label metaroute.io/region');
    const shopGray = await call(env.admin, 'POST', '/v1/instances', TOKEN_SHOP, { service: 'shop', host: '10.0.0.2', port: 1, metadata: { version: 'gray' } });
    expect(shopGray.json.error).toBe('token may not register version=gray');
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_SHOP, { service: 'shop', host: '10.0.0.2', port: 1, metadata: { version: 'stable' } })).status).toBe(200);
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_NET, { service: 'net', host: '10.1.2.3', port: 1, metadata: { any: 'thing' } })).status).toBe(200);
  });

  it('refuses hosts outside the token\'s CIDRs, and link-local / unspecified addresses always', async () => {
    const net = (host: string) => call(env.admin, 'POST', '/v1/instances', TOKEN_NET, { service: 'net', host, port: 1 });
    expect((await net('10.1.200.1')).status).toBe(200);
    expect((await net('fd00::5')).status).toBe(200);
    const outside = await net('10.2.0.1');
    expect(outside.status).toBe(403);
    expect(outside.json.error).toBe('token may not register host 10.2.0.1 (allowed: 10.1.0.0/16, fd00::/8)');
    const named = await net('db.internal'); // refused for every registration, before any token check
    expect([named.status, named.json.details]).toEqual([400, ['host: must be an IP address (resolve a host name before registering), got "db.internal"']]);
    const unspecified = await call(env.admin, 'POST', '/v1/instances', TOKEN_A, { ...instance('A'), host: '0.0.0.0' }); // no instance's address, for any token
    expect([unspecified.status, unspecified.json.details]).toEqual([400, ["host: \"0.0.0.0\" is an unspecified address (a proxy connecting to it reaches only its own host); give the instance's reachable address (127.0.0.1 for one on the proxy's host)"]]);
    for (const [host, named] of [['169.254.169.254'], ['fe80::1'], ['::ffff:169.254.169.254', '169.254.169.254']]) {
      const metadataService = await call(env.admin, 'POST', '/v1/instances', TOKEN_A, { ...instance('A'), host });
      expect([host, metadataService.status, metadataService.json.error]).toEqual([host, 403, `token may not register host ${named ?? host}`]);
    }
  });

  it('tells addresses apart by value, not spelling: another user\'s token cannot register beside A\'s container', async () => {
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_A, instance('A', { host: '10.0.0.1' }))).status).toBe(200);
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_A, instance('A', { id: 'pod-6', host: 'fd00::5' }))).status).toBe(200);
    for (const host of ['::ffff:10.0.0.1', '0:0:0:0:0:ffff:a00:1', 'FD00:0:0::0005']) {
      const b = await call(env.admin, 'POST', '/v1/instances', TOKEN_B, instance('B', { id: 'pod-b', host }));
      expect([host, b.status]).toEqual([host, 409]);
    }
    const hosts = [...env.app.registry.snapshot().services.get('default/aigc')!.instances].map((i) => `${i.metadata.user}@${i.host}`).sort();
    expect(hosts).toEqual(['A@10.0.0.1', 'A@fd00::5']);
  });

  it('reads label names that are Object.prototype members (constructor, toString) as labels: allowed or refused, never a 500', async () => {
    const net = await call(env.admin, 'POST', '/v1/instances', TOKEN_NET, { service: 'net', host: '10.1.0.7', port: 9000, metadata: { constructor: 'x', toString: 'y' } });
    expect(net.status).toBeLessThan(300);
    const shop = await call(env.admin, 'POST', '/v1/instances', TOKEN_SHOP, { service: 'shop', host: '10.0.0.8', port: 9000, metadata: { constructor: 'x' } });
    expect({ status: shop.status, error: shop.json.error }).toEqual({ status: 403, error: expect.stringContaining('label constructor') });
    const explain = await call(env.admin, 'POST', '/explain', TOKEN_ADMIN, { constructor: 5 });
    expect({ status: explain.status, details: explain.json.details }).toEqual({ status: 400, details: [expect.stringContaining('constructor: unknown field')] });
  });

  it('caps the instances within a token\'s scope at maxInstances, concurrent registrations included', async () => {
    const reg = (port: number) => call(env.admin, 'POST', '/v1/instances', TOKEN_QUOTA, { service: 'quota', host: '10.0.0.9', port });
    const answers = await Promise.all([1, 2, 3, 4].map(reg));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 403, 403]);
    expect(answers.find((a) => a.status === 403)!.json.error).toMatch(/^token may register at most 2 instances; 2 are registered within its scope, and this would add 1$/);
    const kept = answers.flatMap((a, i) => (a.status === 200 ? [i + 1] : []));
    expect((await reg(kept[0]!)).status).toBe(200); // re-registering one of its own is no new instance
    expect((await call(env.admin, 'DELETE', `/v1/instances/default/quota/10.0.0.9:${kept[0]}`, TOKEN_QUOTA)).status).toBe(200);
    expect((await reg(9)).status).toBe(200);
  });

  it('the agent registers with its token and is refused, without retrying, outside its scope', async () => {
    const registration = { service: 'aigc', namespace: 'default', host: '10.0.0.5', port: 9000, metadata: { user: 'A' } };
    const ok = new Agent({ admin: env.admin, registration, ttlSeconds: 5, token: TOKEN_A, log: () => undefined });
    await ok.start();
    await ok.stop();
    const logs: string[] = [];
    const refused = new Agent({ admin: env.admin, registration: { ...registration, metadata: { user: 'B' } }, ttlSeconds: 5, token: TOKEN_A, log: (_event, message) => logs.push(message) });
    await expect(refused.start()).rejects.toThrow('registration refused (403): token may not register user=B');
    expect(logs).toEqual([]);
  });
});

describe('admin API bound beyond loopback', () => {
  let env: { app: App; admin: string };
  beforeAll(async () => {
    // Bound to every interface, called through 127.0.0.1: the bind address decides, not the caller's.
    env = await startApp({ host: '0.0.0.0', auth: AUTH, xds: { ...DEFAULTS.xds, clients: { tokens: ['xds-0123456789abcdef'], certificateNames: [], required: 'auto' } } });
  });
  afterAll(() => env.app.stop());

  // Every row has three entries: a shorter row would make jest pass `done` as the body.
  const adminRoutes: Array<[string, string, unknown]> = [
    ['PUT', '/v1/rules', 'rules: []\n'],
    ['GET', '/v1/rules', undefined],
    ['PUT', '/v1/routers/metadata/config', {}],
    ['GET', '/v1/routers', undefined],
    ['POST', '/explain', { service: 'shop' }],
    ['GET', '/config_dump', undefined],
    ['GET', '/v1/instances', undefined],
    // The console's endpoints.
    ['GET', '/v1/overview', undefined],
    ['GET', '/v1/proxies', undefined],
    ['GET', '/v1/services/default/shop', undefined],
    ['GET', '/v1/services/default/shop/split', undefined],
    ['GET', '/v1/rules/history', undefined],
    ['POST', '/v1/rules/check', 'rules: []\n'],
  ];

  it.each(adminRoutes)('%s %s needs an admin token (401 without, 403 with a registration token)', async (method, route, body) => {
    const none = await call(env.admin, method, route, undefined, body);
    expect(none.status).toBe(401);
    const user = await call(env.admin, method, route, TOKEN_A, body);
    expect(user.status).toBe(403);
    expect(user.json.error).toBe('token may not use the admin API (it needs admin: true)');
    const admin = await call(env.admin, method, route, TOKEN_ADMIN, body);
    expect([401, 403]).not.toContain(admin.status);
  });

  it('keeps /healthz, /readyz and /metrics open', async () => {
    for (const route of ['/healthz', '/readyz', '/metrics']) expect((await call(env.admin, 'GET', route)).status).toBe(200);
  });

  it('serves the console\'s files without a token (they hold no data; its API calls need one)', async () => {
    // 200 once `npm run build` has built the console (404 naming the command before): never 401.
    for (const route of ['/ui/', '/ui/nosuch.js']) expect([401, 403]).not.toContain((await call(env.admin, 'GET', route)).status);
  });

  it('still takes registrations with a registration token', async () => {
    expect((await call(env.admin, 'POST', '/v1/instances', TOKEN_A, instance('A'))).status).toBe(200);
  });

  it('never shows the tokens in the config dump', async () => {
    const dump = await call(env.admin, 'GET', '/config_dump', TOKEN_ADMIN);
    expect(dump.status).toBe(200);
    for (const t of [TOKEN_A, TOKEN_B, TOKEN_SHOP, TOKEN_ADMIN]) expect(dump.text).not.toContain(t);
    expect(dump.json.config.auth.tokens[0]).toEqual({ token: '<redacted>', services: ['aigc'], labels: { user: ['A'] }, optionalLabels: { 'metaroute.io/zone': ['*'] }, addresses: [], admin: false });
  });
});

describe('startup refusal and defaults', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-auth-config-'));
  const configFile = (name: string, text: string) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const problems = (file: string, env: NodeJS.ProcessEnv = {}) => {
    try {
      loadConfig(file, env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('loadConfig refuses a non-loopback host without an admin token, naming auth.tokens', () => {
    const file = configFile('open.yaml', `host: 0.0.0.0\nauth:\n  tokens:\n    - { token: ${TOKEN_A}, services: [aigc] }\nxds: { clients: { required: false } }\n`);
    expect(problems(file)).toEqual([expect.stringMatching(/^auth\.tokens: the server binds 0\.0\.0\.0, beyond loopback, so the admin API needs a token with admin: true/)]);
    expect(problems(configFile('none.yaml', 'host: 0.0.0.0\n'))).toEqual([expect.stringMatching(/^auth\.tokens: /), expect.stringMatching(/^xds\.clients: the server binds 0\.0\.0\.0/)]);
    expect(problems(configFile('empty.yaml', ''))).toEqual([]);
  });

  it('loadConfig refuses requireAdminAuth: true without an admin token even on loopback', () => {
    expect(problems(configFile('strict.yaml', 'auth: { requireAdminAuth: true }\n'))).toEqual([expect.stringMatching(/^auth\.tokens: auth\.requireAdminAuth is true/)]);
  });

  it('App.start refuses too, before binding anything', async () => {
    await expect(startApp({ host: '0.0.0.0', xds: { ...DEFAULTS.xds, clients: { tokens: [], certificateNames: [], required: false } } })).rejects.toThrow(/^auth\.tokens: the server binds 0\.0\.0\.0, beyond loopback/);
  });

  it('reads tokenEnv, and reports every malformed token entry with its path', () => {
    const good = configFile('tokenenv.yaml', 'host: 0.0.0.0\nauth:\n  tokens:\n    - { tokenEnv: ADMIN_TOKEN, admin: true }\nxds: { clients: { required: false } }\n');
    expect(loadConfig(good, { ADMIN_TOKEN: TOKEN_ADMIN }).auth.tokens[0]).toEqual({ token: TOKEN_ADMIN, services: [], labels: {}, optionalLabels: {}, addresses: [], maxInstances: undefined, admin: true });
    expect(problems(good)).toEqual(['auth.tokens[0].tokenEnv: environment variable ADMIN_TOKEN is not set']);

    const bad = configFile(
      'bad.yaml',
      [
        'auth:',
        '  requireAdminAuth: sometimes',
        '  tokens:',
        '    - { token: short, services: [aigc] }',
        `    - { token: ${TOKEN_A} }`,
        `    - { token: ${TOKEN_B}, tokenEnv: X, services: [aigc] }`,
        `    - { token: ${TOKEN_SHOP}, services: ["a/b/c"], labels: { user: [] }, admn: true }`,
        '    - { token: "has a space 0123456789", services: [aigc] }',
        `    - { token: ${TOKEN_NET}, services: [net], labels: { "*": [a] }, optionalLabels: { zone: [] }, addresses: [10.0.0.0/33, "x/8", 10.0.0.0], maxInstances: 0 }`,
        '',
      ].join('\n'),
    );
    expect(problems(bad)).toEqual([
      'auth.requireAdminAuth: must be auto, true or false, got "sometimes"',
      'auth.tokens[0]: the token must be at least 16 characters',
      'auth.tokens[1]: grants nothing; list services it may register or set admin: true',
      'auth.tokens[2]: set exactly one of token, tokenEnv',
      'auth.tokens[3].admn: unknown field (expected one of token, tokenEnv, services, labels, optionalLabels, addresses, maxInstances, admin)',
      'auth.tokens[3].services: "a/b/c" is not *, ns/*, ns/svc or svc',
      'auth.tokens[3].labels.user: list at least one allowed value (or "*")',
      'auth.tokens[4]: the token must not contain whitespace (it travels as "Bearer <token>")',
      'auth.tokens[5].labels.*: a required label needs a name; use optionalLabels for "any other key"',
      'auth.tokens[5].optionalLabels.zone: list at least one allowed value (or "*")',
      'auth.tokens[5].addresses: "10.0.0.0/33" is not a CIDR (10.1.0.0/16, fd00::/8)',
      'auth.tokens[5].addresses: "x/8" is not a CIDR (10.1.0.0/16, fd00::/8)',
      'auth.tokens[5].addresses: "10.0.0.0" is not a CIDR (10.1.0.0/16, fd00::/8)',
      'auth.tokens[5].maxInstances: must be an integer >= 1',
    ]);
  });

  it('default npm start experience: loopback, no tokens, everything open', async () => {
    expect(loadConfig(undefined, {}).auth).toEqual({ tokens: [], requireAdminAuth: 'auto' });
    const env = await startApp();
    try {
      expect((await call(env.admin, 'POST', '/v1/instances', undefined, instance(undefined))).status).toBe(200);
      expect((await call(env.admin, 'PUT', '/v1/instances/default/aigc/pod-1/heartbeat')).status).toBe(200);
      expect((await call(env.admin, 'PUT', '/v1/rules', undefined, 'rules: []\n')).status).toBe(200);
      expect((await call(env.admin, 'GET', '/config_dump')).status).toBe(200);
      expect((await call(env.admin, 'DELETE', '/v1/instances/default/aigc/pod-1')).status).toBe(200);
    } finally {
      await env.app.stop();
    }
  });
});

describe('AdminAuth pieces', () => {
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'metaroute.internal', '128.0.0.1']) expect(isLoopback(h)).toBe(false);
  });

  it('"ns/*" and "*" scopes', () => {
    const auth = new AdminAuth({ requireAdminAuth: 'auto', tokens: [] }, '127.0.0.1');
    const grant = (services: string[]) => ({ ...scope, token: 'x'.repeat(16), services });
    expect(() => auth.authorize(grant(['team1/*']), 'register', { namespace: 'team1', service: 'any' })).not.toThrow();
    expect(() => auth.authorize(grant(['team1/*']), 'register', { namespace: 'team2', service: 'any' })).toThrow('token may not register service team2/any');
    expect(() => auth.authorize(grant(['*']), 'register', { namespace: 'x', service: 'y' })).not.toThrow();
  });
});

test('the config dump redacts the etcd password', () => {
  const dump = redactSecrets({ config: { auth: { tokens: [], requireAdminAuth: 'auto' }, store: { kind: 'etcd', auth: { username: 'metaroute', password: 's3cret' } } } });
  expect(dump.config).toMatchObject({ store: { kind: 'etcd', auth: { username: 'metaroute', password: '<redacted>' } } });
  expect(JSON.stringify(dump)).not.toContain('s3cret');
});
