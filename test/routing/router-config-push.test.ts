import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore } from '../../src/store/embedded';
import { api, startApp, until } from '../support/app';

/** A pushed lane or canary config naming what can never match is refused; one stored before loads as it is. */

test('a pushed lane or canary config with service names registration refuses, or a reserved key, is refused naming it', async () => {
  const env = await startApp();
  try {
    const push = (router: string, config: object) => api(env.admin, 'PUT', `/v1/routers/${router}/config`, config);
    const refusals: Array<[string, object, string]> = [
      ['lane', { enabled: true, services: ['shop', 'a.b/x'] }, `lane.services[1]: "a.b/x" can never match`],
      ['lane', { enabled: true, services: ['x/y/z'] }, `lane.services[0]: "x/y/z" can never match`],
      ['lane', { enabled: true, services: ['shop x'] }, `lane.services[0]: "shop x" can never match`],
      ['lane', { enabled: true, key: 'metaroute.io/zone' }, 'lane.key: "metaroute.io/zone" is reserved for locality labels'],
      ['canary', { enabled: true, key: 'metaroute.io/region' }, 'canary.key: "metaroute.io/region" is reserved for locality labels'],
    ];
    for (const [router, config, message] of refusals) {
      const answer = await push(router, config);
      expect({ router, status: answer.status, details: answer.json.details }).toEqual({ router, status: 400, details: [expect.stringContaining(message)] });
    }
    expect((await push('lane', { enabled: true, services: ['shop', 'prod/api'] })).status).toBe(200);
  } finally {
    await env.app.stop();
  }
});

test('a lane config stored by an older metaroute with such names still loads at start', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-stored-router-'));
  const store = await EmbeddedStore.open(dataDir);
  await store.put('routers/lane', JSON.stringify({ enabled: true, services: ['a.b/x'] }));
  await store.close();
  const env = await startApp({ dataDir });
  try {
    expect((await api(env.admin, 'GET', '/config_dump')).json.routers.lane).toEqual({ enabled: true, services: ['a.b/x'] });
  } finally {
    await env.app.stop();
  }
});

test('a withdrawn push gives the router back the configuration file\'s config, on this replica and after a restart; withdrawing again is no error', async () => {
  const file = { routers: [{ name: 'nearby', module: undefined, config: { enabled: true, matchLevel: 'region' } }] };
  const env = await startApp(file);
  const nearby = async (admin: string) => (await api(admin, 'GET', '/config_dump')).json.routers.nearby;
  let again: Awaited<ReturnType<typeof startApp>> | undefined;
  try {
    expect((await api(env.admin, 'PUT', '/v1/routers/nearby/config', { enabled: false })).status).toBe(200);
    await until(async () => (await nearby(env.admin)).enabled === false, 'the push to apply');

    expect(await api(env.admin, 'DELETE', '/v1/routers/nearby/config')).toMatchObject({ status: 200, json: { status: 'withdrawn' } });
    await until(async () => (await nearby(env.admin)).enabled === true, 'the file\'s config to apply');
    expect(await nearby(env.admin)).toEqual({ enabled: true, matchLevel: 'region' });
    expect(env.logs.some((l) => l.includes('"event":"router.config.applied"') && l.includes('"withdrawn":true'))).toBe(true);

    // A retry of a DELETE whose answer was lost: nothing is stored any more, which is what it asked for.
    expect(await api(env.admin, 'DELETE', '/v1/routers/nearby/config')).toMatchObject({ status: 200, json: { status: 'not-stored' } });
    expect(await nearby(env.admin)).toEqual({ enabled: true, matchLevel: 'region' });
    expect(await api(env.admin, 'DELETE', '/v1/routers/nowhere/config')).toMatchObject({ status: 404, json: { error: 'no router named nowhere' } });

    await env.app.stop();
    again = await startApp({ ...file, dataDir: env.dataDir });
    expect(await nearby(again.admin)).toEqual({ enabled: true, matchLevel: 'region' });
    expect(again.logs.some((l) => l.includes('router.config.overridden'))).toBe(false);
  } finally {
    await (again ?? env).app.stop();
  }
});

test("If-Match: a push or withdrawal naming the etag read changes the config only while it is unchanged (412 otherwise)", async () => {
  const env = await startApp();
  try {
    const etag = async (): Promise<string> => (await api(env.admin, 'GET', '/v1/routers')).json.chain.find((r: { name: string }) => r.name === 'lane').etag;
    const send = (method: string, ifMatch: string, config?: object) =>
      fetch(`${env.admin}/v1/routers/lane/config`, { method, headers: { 'if-match': ifMatch, ...(config && { 'content-type': 'application/json' }) }, body: config && JSON.stringify(config) });
    const read = await etag();
    expect((await send('PUT', read, { enabled: true, key: 'env' })).status).toBe(200);
    expect(await etag()).not.toBe(read);
    const stale = await send('PUT', read, { enabled: false }); // a second editor that read the first config
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { error: string }).error).toMatch(/^router lane's config changed since it was read \(If-Match .*\): nothing was changed; read it and try again$/);
    expect((await send('DELETE', read)).status).toBe(412);
    expect((await api(env.admin, 'GET', '/v1/routers')).json.chain[0].config).toEqual({ enabled: true, key: 'env' });
    expect((await send('DELETE', await etag())).status).toBe(200);
    expect((await send('PUT', '*', { enabled: true })).status).toBe(200);
  } finally {
    await env.app.stop();
  }
});
