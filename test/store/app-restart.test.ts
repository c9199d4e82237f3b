import { api, startApp, until } from '../support/app';
import { ExtProcClient, lbLabels } from '../support/extproc-client';

test('rules and persistent instances survive a restart; static config instances are not stored', async () => {
  const first = await startApp();
  try {
    expect((await api(first.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, metadata: { version: 'gray' }, ephemeral: false })).status).toBe(200);
    expect((await api(first.admin, 'PUT', '/v1/rules', 'rules:\n  - name: all-gray\n    service: shop\n    destinations: [{ name: gray, labels: { version: gray } }]\n')).status).toBe(200);
  } finally {
    await first.app.stop();
  }

  const second = await startApp({ dataDir: first.dataDir });
  const client = new ExtProcClient(second.extProc);
  try {
    await until(() => second.app.engine.current.registry.services.size === 1, 'registry to load');
    expect(lbLabels(await client.request({ ':method': 'GET', ':path': '/', ':authority': 'shop' }))).toEqual({ version: 'gray' });
    expect((await api(second.admin, 'GET', '/v1/rules')).json).toMatchObject({ origin: 'api', text: expect.stringContaining('all-gray') });
  } finally {
    client.close();
    await second.app.stop();
  }
});

test('an ephemeral instance without heartbeats expires after its TTL; heartbeats keep another alive', async () => {
  const env = await startApp();
  try {
    for (const port of [1, 2]) await api(env.admin, 'POST', '/v1/instances', { service: 'tmp', host: '10.0.0.1', port, ttlSeconds: 1 });
    const deadline = Date.now() + 2500;
    while (Date.now() < deadline) {
      expect((await api(env.admin, 'PUT', '/v1/instances/default/tmp/10.0.0.1:2/heartbeat')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
    }
    const listed = (await api(env.admin, 'GET', '/v1/instances?service=tmp')).json.instances.map((i: { port: number }) => i.port);
    expect(listed).toEqual([2]);
    expect((await api(env.admin, 'PUT', '/v1/instances/default/tmp/10.0.0.1:1/heartbeat')).status).toBe(404);
  } finally {
    await env.app.stop();
  }
});
