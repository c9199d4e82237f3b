import * as fs from 'node:fs';
import * as os from 'node:os';
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

test("a stored config the router's module now refuses is skipped at start for the file's, and the start says so", async () => {
  // The same router before and after an upgrade: the new module refuses upper-case header names.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-upgrade-'));
  const before = path.join(dir, 'version-pin-before.js');
  fs.writeFileSync(before, fs.readFileSync(path.join(__dirname, 'fixtures/version-pin-router.js'), 'utf8').replace("!/^[a-z0-9-]+$/.test(next)", 'false'));
  const first = await startApp({ routers: [{ name: undefined, module: before, config: {} }] });
  try {
    expect((await api(first.admin, 'PUT', '/v1/routers/version-pin/config', { header: 'X-Pin' })).status).toBe(200);
  } finally {
    await first.app.stop();
  }
  const after = path.join(__dirname, 'fixtures/version-pin-router.js');
  const again = await startApp({ routers: [{ name: undefined, module: after, config: { header: 'x-pin' } }], dataDir: first.dataDir });
  try {
    const records = again.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.filter((r) => r.event === 'router.config.refused')).toMatchObject([
      { level: 'error', router: 'version-pin', source: 'store', err: { message: 'version-pin.header: must be a lower-case header name' } },
    ]);
    expect(records.filter((r) => r.event === 'router.config.overridden')).toEqual([]);
    expect((await api(again.admin, 'GET', '/config_dump')).json.routers['version-pin']).toEqual({ header: 'x-pin' });
    // A new push replaces the refused one.
    expect((await api(again.admin, 'PUT', '/v1/routers/version-pin/config', { header: 'x-app-version' })).status).toBe(200);
  } finally {
    await again.app.stop();
  }
});

test("a custom router's config in the configuration file that it refuses stops the start, naming the router, and every other router refusing its own", async () => {
  await expect(startApp({ routers: [{ name: undefined, module: path.join(__dirname, 'fixtures/version-pin-router.js'), config: { header: 42 } }] })).rejects.toThrow(
    'routers: router version-pin refused its config from the configuration file: version-pin.header: must be a lower-case header name',
  );
  await expect(startApp({ routers: [{ name: 'lane', module: undefined, config: { colour: 'red' } }, { name: undefined, module: path.join(__dirname, 'fixtures/version-pin-router.js'), config: { header: 42 } }] })).rejects.toThrow(
    /^routers: router lane refused its config from the configuration file: .*colour.*\nrouters: router version-pin refused its config from the configuration file: version-pin.header: must be a lower-case header name$/,
  );
});

test("a custom router that takes a built-in router's name stops the start, naming it", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-named-'));
  const module = path.join(dir, 'named-rule.js');
  fs.writeFileSync(module, "exports.createRouter = () => ({ name: 'rule', order: 250, configure() {}, route() { return undefined; } });\n");
  await expect(startApp({ routers: [{ name: undefined, module, config: {} }] })).rejects.toThrow(
    "routers: two routers are named rule; each router needs a name of its own (a custom router's may not be a built-in's)",
  );
});
