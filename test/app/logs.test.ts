import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RouterConfigs } from '../../src/app/router-configs';
import { RulesChecker } from '../../src/app/rules-checker';
import { RulesSource } from '../../src/app/rules-source';
import { LaneRouter } from '../../src/routing/lane-router';
import { EmbeddedStore } from '../../src/store/embedded';
import { ExtProcClient } from '../support/extproc-client';
import { captureLogs } from '../support/logs';
import { api, startApp, until } from '../support/app';
import { TYPE, XdsTestClient } from '../xds/helpers';

/** One JSON line per operational event, with level, time and msg; none per ext_proc request. */
describe('server logs', () => {
  it('logs rules loads and refusals, router configs, registrations, deregistrations, expiry and xDS streams', async () => {
    const env = await startApp({ registry: { ttlSeconds: 1, instances: [] } });
    const records = () => env.logs.map((l) => JSON.parse(l) as Record<string, any>);
    const events = (name: string) => records().filter((r) => r.event === name);
    try {
      expect(records().every((r) => typeof r.level === 'string' && !Number.isNaN(Date.parse(r.time)) && typeof r.msg === 'string')).toBe(true);

      await api(env.admin, 'PUT', '/v1/rules', 'rules:\n  - name: r\n    service: shop\n    destinations: [{ name: d, labels: { v: a } }]\n');
      expect(events('rules.loaded')).toMatchObject([{ level: 'info', source: 'api', version: 1, rules: 1, metadataRoutes: 0 }]);
      await api(env.admin, 'PUT', '/v1/rules', 'rules: [{ name: x }]\n');
      expect(events('rules.refused')).toMatchObject([{ level: 'warn', source: 'api', errors: expect.any(Number), keeping: 1 }]);

      await api(env.admin, 'PUT', '/v1/routers/lane/config', { enabled: true, key: 'env' });
      expect(events('router.config.applied')).toMatchObject([{ level: 'info', router: 'lane' }]);
      await api(env.admin, 'PUT', '/v1/routers/lane/config', { colour: 'red' });
      expect(events('router.config.refused')).toMatchObject([{ level: 'warn', router: 'lane' }]);

      await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 1, ephemeral: false });
      await api(env.admin, 'DELETE', '/v1/instances/default/shop/10.0.0.1:1');
      await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.2', port: 2, ttlSeconds: 1 });
      expect(events('instance.registered')).toMatchObject([
        { level: 'info', namespace: 'default', service: 'shop', id: '10.0.0.1:1', address: '10.0.0.1:1', ephemeral: false },
        { id: '10.0.0.2:2', ephemeral: true },
      ]);
      expect(events('instance.deregistered')).toMatchObject([{ level: 'info', service: 'shop', id: '10.0.0.1:1' }]);

      // A batch logs one line, with its counts and the services it touched (an agent --file's start and stop).
      await api(env.admin, 'POST', '/v1/instances/batch', { register: [{ service: 'cart', host: '10.0.1.1', port: 1, ephemeral: false }, { service: 'cart', host: '10.0.1.2', port: 1, ephemeral: false }] });
      await api(env.admin, 'POST', '/v1/instances/batch', { deregister: [{ service: 'cart', id: '10.0.1.1:1' }, { service: 'cart', id: 'ghost' }] });
      // Only instances the server no longer knew (an agent stopped after they expired): a line all the same.
      await api(env.admin, 'POST', '/v1/instances/batch', { deregister: [{ service: 'cart', id: 'ghost' }] });
      expect(events('instances.batch')).toMatchObject([
        { level: 'info', registered: 2, deregistered: 0, missing: 0, services: ['default/cart'], servicesOmitted: 0 },
        { level: 'info', registered: 0, deregistered: 1, missing: 1, services: ['default/cart'] },
        { level: 'info', registered: 0, deregistered: 0, missing: 1, services: [] },
      ]);
      await until(() => events('instance.expired').length === 1, 'the ephemeral instance to expire', 6000);
      expect(events('instance.expired')).toMatchObject([{ level: 'info', service: 'shop', id: '10.0.0.2:2', ttlSeconds: 1 }]);

      const xds = new XdsTestClient(env.app.ports.xds);
      xds.send({ node: { id: 'edge-1' }, type_url: TYPE.CDS });
      const first = await xds.next();
      xds.send({ type_url: TYPE.CDS, response_nonce: first.nonce, version_info: '', error_detail: { code: 3, message: 'bad cluster' } });
      await until(() => events('xds.nack').length === 1, 'the NACK to be logged');
      expect(events('xds.connected')).toMatchObject([{ level: 'info', protocol: 'sotw' }]);
      expect(events('xds.nack')).toMatchObject([{ level: 'warn', node: 'edge-1', type: 'cds', error: 'bad cluster' }]);
      xds.call.end();
      xds.client.close();
      await until(() => events('xds.disconnected').length === 1, 'the disconnect to be logged');
      expect(events('xds.disconnected')).toMatchObject([{ level: 'info', node: 'edge-1' }]);

      // The hot path logs nothing: 200 ext_proc requests add no line.
      const before = env.logs.length;
      const client = new ExtProcClient(env.extProc);
      try {
        for (let i = 0; i < 200; i++) await client.request({ ':method': 'GET', ':path': '/', ':authority': i % 2 ? 'shop' : 'unknown' });
      } finally {
        client.close();
      }
      expect(env.logs.slice(before)).toEqual([]);
    } finally {
      await env.app.stop();
    }
  });
});

describe('router configs at start', () => {
  it('a stored (pushed) config that differs from the configuration file is used, and the start says so', async () => {
    const file = { routers: [{ name: 'nearby', module: undefined, config: { enabled: false } }] };
    const first = await startApp(file);
    try {
      expect((await api(first.admin, 'PUT', '/v1/routers/nearby/config', { enabled: true })).status).toBe(200);
    } finally {
      await first.app.stop();
    }
    const again = await startApp({ ...file, dataDir: first.dataDir });
    try {
      const records = again.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records.filter((r) => r.event === 'router.config.overridden')).toMatchObject([{ level: 'warn', router: 'nearby' }]);
      expect((await api(again.admin, 'GET', '/config_dump')).json.routers.nearby.enabled).toBe(true);
    } finally {
      await again.app.stop();
    }
  });
});

describe('store failures', () => {
  it('a rules update or router config the store cannot write is logged as store.failed, and refused', async () => {
    const { logger, records } = captureLogs();
    const store = await EmbeddedStore.open(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-storefail-')));
    // No Envoy to roll selectors out to: the switch-over happens at once.
    const configs = new RouterConfigs(store, [new LaneRouter()], async (_what, _keys, switchOver) => switchOver(), logger);
    await configs.start(new Map());
    const checker = new RulesChecker();
    const rules = new RulesSource(store, checker, logger);
    await rules.start(undefined);
    await store.close(); // every later write fails, as after a failed fsync
    await expect(configs.push('lane', { enabled: true, key: 'env' })).rejects.toThrow('store is closed');
    expect(records().filter((r) => r.event === 'store.failed')).toMatchObject([{ level: 'error', router: 'lane', err: { message: 'store is closed' } }]);
    await expect(rules.update('rules: []\n', 'api')).rejects.toThrow('store is closed');
    expect(records().filter((r) => r.event === 'store.failed').at(-1)).toMatchObject({ level: 'error', source: 'api', err: { message: 'store is closed' } });
    configs.stop();
    rules.stop();
    await checker.close();
  });
});
