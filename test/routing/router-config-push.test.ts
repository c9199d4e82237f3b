import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore } from '../../src/store/embedded';
import { api, startApp } from '../support/app';

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
