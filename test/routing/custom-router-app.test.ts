import * as path from 'node:path';
import { api, startApp, until } from '../support/app';
import { ExtProcClient, lbLabels } from '../support/extproc-client';

test('a custom router named in the server config is loaded, configured, and re-configured by a push', async () => {
  const env = await startApp({ routers: [{ name: undefined, module: path.join(__dirname, 'fixtures/version-pin-router.js'), config: {} }] });
  const client = new ExtProcClient(env.extProc);
  try {
    for (const [port, version] of [[1, 'v1'], [2, 'v2']] as const) {
      await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port, metadata: { version } });
    }
    await until(() => env.app.engine.current.registry.services.size === 1, 'instances');
    expect((await api(env.admin, 'GET', '/v1/routers')).json.routers).toContain('version-pin');
    const request = (headers: Record<string, string>) => client.request({ ':method': 'GET', ':path': '/', ':authority': 'shop', ...headers });
    expect(lbLabels(await request({ 'x-version': 'v2' }))).toEqual({ version: 'v2' });
    expect((await api(env.admin, 'PUT', '/v1/routers/version-pin/config', { header: 'x-pin' })).status).toBe(200);
    expect(lbLabels(await request({ 'x-pin': 'v1' }))).toEqual({ version: 'v1' });
    expect((await api(env.admin, 'PUT', '/v1/routers/version-pin/config', { header: 42 })).status).toBe(400);
    expect(lbLabels(await request({ 'x-pin': 'v1' }))).toEqual({ version: 'v1' });
  } finally {
    client.close();
    await env.app.stop();
  }
});

test('a misspelled built-in router name in the config stops the start with the known names', async () => {
  await expect(startApp({ routers: [{ name: 'lanes', module: undefined, config: { enabled: true } }] })).rejects.toThrow(/routers: no router named lanes \(known: lane, rule, metadata, nearby, canary, recover\)/);
});
