import type { App } from '../../src/app/app';
import { api, startApp } from '../support/app';
import { ExtProcClient, lbLabels } from '../support/extproc-client';

const RULES = 'rules:\n  - name: by-user\n    service: shop\n    destinations: [{ name: blue, labels: { color: blue } }]\n';
const entry = (port: number, color: string, extra: Record<string, unknown> = {}) => ({ service: 'shop', host: '10.0.0.1', port, metadata: { color }, ...extra });

describe('batch registration and batched heartbeats (real HTTP, real ext_proc)', () => {
  let env: { app: App; admin: string; extProc: string };
  let client: ExtProcClient;
  beforeEach(async () => {
    env = await startApp();
    client = new ExtProcClient(env.extProc);
    expect((await api(env.admin, 'PUT', '/v1/rules', RULES)).status).toBe(200);
  });
  afterEach(async () => {
    client.close();
    await env.app.stop();
  });

  const route = async () => {
    const answer = await client.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' });
    return { labels: lbLabels(answer), status: answer.immediate_response?.status?.code as number | undefined };
  };
  const listed = async () => ((await api(env.admin, 'GET', '/v1/instances?service=shop')).json.instances as { port: number }[]).map((i) => i.port).sort((a, b) => a - b);

  it('registers many instances in one call; routing sees them as soon as the call is answered', async () => {
    const register = Array.from({ length: 1200 }, (_, i) => entry(1000 + i, i === 1199 ? 'blue' : 'green'));
    const answer = await api(env.admin, 'POST', '/v1/instances/batch', { register });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ registered: 1200, deregistered: 0, missing: [] });
    expect((await listed()).length).toBe(1200);
    expect(await route()).toMatchObject({ labels: { color: 'blue' } });
  });

  it('refuses the whole batch over one bad entry, naming its index and field, and changes nothing', async () => {
    await api(env.admin, 'POST', '/v1/instances/batch', { register: [entry(1, 'blue')] });
    const bad = await api(env.admin, 'POST', '/v1/instances/batch', {
      register: [entry(2, 'blue'), entry(3, 'blue', { port: 70000 }), entry(2, 'green')],
      deregister: [{ service: 'shop', id: '10.0.0.1:1' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('invalid batch; nothing was changed');
    expect(bad.json.details).toEqual(['register[1].port: must be an integer 1-65535, got 70000', 'register[2]: the same instance as register[0]']);
    expect(await listed()).toEqual([1]);
    expect((await api(env.admin, 'POST', '/v1/instances/batch', { register: [], deregister: [{ service: 'shop' }] })).json.details).toEqual([
      "deregister[0].id: required, a name of letters, digits, '_', '.', '-', ':'",
    ]);
    expect((await api(env.admin, 'POST', '/v1/instances/batch', [entry(1, 'x')])).status).toBe(400);
  });

  it('replaces and removes in one call; a removal of an unknown instance is reported, not an error', async () => {
    await api(env.admin, 'POST', '/v1/instances/batch', { register: [entry(1, 'blue'), entry(2, 'green')] });
    expect(await route()).toMatchObject({ labels: { color: 'blue' } });
    const answer = await api(env.admin, 'POST', '/v1/instances/batch', {
      register: [entry(2, 'blue')],
      deregister: [{ service: 'shop', id: '10.0.0.1:1' }, { namespace: 'default', service: 'shop', id: 'nope' }],
    });
    expect(answer.json).toEqual({ registered: 1, deregistered: 1, missing: [{ namespace: 'default', service: 'shop', id: 'nope' }] });
    expect(await listed()).toEqual([2]);
    const gone = await api(env.admin, 'POST', '/v1/instances/batch', { deregister: [{ service: 'shop', id: '10.0.0.1:2' }] });
    expect(gone.json.deregistered).toBe(1);
    // Rule falls back (failover default) or rejects: either way blue is no longer offered by an instance.
    expect(await listed()).toEqual([]);
  });

  it('batched heartbeats keep instances alive, name unknown ones, and refuse a malformed entry', async () => {
    await api(env.admin, 'POST', '/v1/instances/batch', { register: [entry(1, 'blue', { ttlSeconds: 1 }), entry(2, 'blue', { ttlSeconds: 1 })] });
    const deadline = Date.now() + 2500;
    while (Date.now() < deadline) {
      const beat = await api(env.admin, 'POST', '/v1/heartbeats', { instances: [{ service: 'shop', id: '10.0.0.1:2' }, { service: 'shop', id: 'ghost' }] });
      expect(beat.json).toEqual({ alive: 1, unknown: [{ namespace: 'default', service: 'shop', id: 'ghost' }] });
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(await listed()).toEqual([2]);
    const bad = await api(env.admin, 'POST', '/v1/heartbeats', { instances: [{ service: 'shop', id: '10.0.0.1:2' }, { service: 'shop', id: 'a b' }] });
    expect(bad.status).toBe(400);
    expect(bad.json.details).toEqual(["instances[1].id: must be a name of letters, digits, '_', '.', '-', ':', got \"a b\""]);
  });
});

describe('batch calls with registration tokens', () => {
  const TOKEN_A = 'user-a-0123456789abcdef';
  let env: { app: App; admin: string };
  beforeEach(async () => {
    env = await startApp({ auth: { requireAdminAuth: 'auto', tokens: [{ token: TOKEN_A, services: ['aigc'], labels: { user: ['A'] }, optionalLabels: {}, addresses: [], maxInstances: undefined, admin: false }] } });
  });
  afterEach(() => env.app.stop());

  const call = async (urlPath: string, body: unknown, token?: string) => {
    const response = await fetch(`${env.admin}${urlPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as { error: string } };
  };

  it('refuses the whole batch when the token does not cover one entry, naming it; nothing is registered', async () => {
    const mine = { service: 'aigc', host: '10.0.0.1', port: 1, metadata: { user: 'A' } };
    const theirs = { service: 'aigc', host: '10.0.0.1', port: 2, metadata: { user: 'B' } };
    expect((await call('/v1/instances/batch', { register: [mine] })).status).toBe(401);
    const refused = await call('/v1/instances/batch', { register: [mine, theirs] }, TOKEN_A);
    expect(refused).toEqual({ status: 403, json: expect.objectContaining({ error: 'register[1]: token may not register user=B; nothing was changed' }) });
    expect((await api(env.admin, 'GET', '/v1/instances?service=aigc')).json.instances).toEqual([]);
    expect((await call('/v1/instances/batch', { register: [mine] }, TOKEN_A)).status).toBe(200);
    const beat = await call('/v1/heartbeats', { instances: [{ service: 'aigc', id: '10.0.0.1:1' }, { service: 'shop', id: 'x' }] }, TOKEN_A);
    expect(beat).toEqual({ status: 403, json: expect.objectContaining({ error: 'instances[1]: token may not heartbeat service default/shop; nothing was changed' }) });
  });
});
