import { DEFAULTS } from '../../src/config/config';
import { ExtProcClient, lbLabels } from '../support/extproc-client';
import { api, startApp, until } from '../support/app';

/** A canary asked for by a client at the edge gateway (no x-metaroute-side: headers are untrusted). */
async function edge(clientHeaders: string[], canaryConfig: Record<string, unknown>) {
  const env = await startApp({ extProc: { ...DEFAULTS.extProc, edge: { ...DEFAULTS.extProc.edge, clientHeaders } } });
  for (const [port, metadata] of [[1, {}], [2, { canary: 'v2' }]] as const) {
    await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port, metadata });
  }
  expect((await api(env.admin, 'PUT', '/v1/routers/canary/config', { enabled: true, ...canaryConfig })).status).toBe(200);
  await until(() => env.app.engine.current.registry.services.size === 1, 'setup');
  return { env, client: new ExtProcClient(env.extProc) };
}

const get = (extra: Record<string, string>) => ({ ':method': 'GET', ':path': '/', ':authority': 'shop', ...extra });

test('by default the edge refuses x-metaroute-canary (403) and rpc-persist-canary works', async () => {
  const { env, client } = await edge([], {});
  try {
    expect((await client.request(get({ 'x-metaroute-canary': 'v2' }))).immediate_response.status.code).toBe(403);
    expect(lbLabels(await client.request(get({ 'rpc-persist-canary': 'v2' })))).toEqual({ canary: 'v2' });
  } finally {
    client.close();
    await env.app.stop();
  }
});

test('extProc.edge.clientHeaders lets clients send x-metaroute-canary; other x-metaroute-* stay refused', async () => {
  const { env, client } = await edge(['x-metaroute-canary'], {});
  try {
    expect(lbLabels(await client.request(get({ 'x-metaroute-canary': 'v2' })))).toEqual({ canary: 'v2' });
    expect((await client.request(get({ 'x-metaroute-cluster': 'x' }))).immediate_response.status.code).toBe(403);
  } finally {
    client.close();
    await env.app.stop();
  }
});

test('the canary router\'s header names the header clients use: one outside x-metaroute- passes the edge as is', async () => {
  const { env, client } = await edge([], { header: 'X-Canary' });
  try {
    expect(lbLabels(await client.request(get({ 'x-canary': 'v2' })))).toEqual({ canary: 'v2' });
    expect(lbLabels(await client.request(get({})))).toEqual({ canary: '' });
    expect((await api(env.admin, 'PUT', '/v1/routers/canary/config', { enabled: true, header: 'bad header' })).json.details).toEqual(['canary.header: must be an HTTP header name, got "bad header"']);
  } finally {
    client.close();
    await env.app.stop();
  }
});
