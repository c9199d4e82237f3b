import * as http from 'node:http';
import { api, startApp, until } from '../support/app';

const ENDPOINTS = 40_000;

/**
 * `/config_dump?resource=endpoints&name=...` of a large assignment: streamed in chunks; the whole
 * body is the resource, and a client that goes away half way is no server error.
 */
test('a large ClusterLoadAssignment dump streams whole; a client leaving mid-way is not logged as a failure', async () => {
  const env = await startApp();
  try {
    // About 9 MB of JSON: more than loopback's socket buffers hold, so the server is still writing when the client leaves.
    for (let from = 0; from < ENDPOINTS; from += 5000) {
      const register = Array.from({ length: 5000 }, (_, k) => from + k).map((i) => ({ service: 'big', host: `10.2.${i >> 8}.${i & 255}`, port: 8080, metadata: { user: `u${i}` } }));
      expect((await api(env.admin, 'POST', '/v1/instances/batch', { register })).status).toBe(200);
    }
    const url = `${env.admin}/config_dump?resource=endpoints&name=big.default`;
    await until(async () => (await fetch(url, { method: 'HEAD' })).status === 200, 'the big cluster to be served');

    const whole = await api(env.admin, 'GET', '/config_dump?resource=endpoints&name=big.default');
    expect(whole.status).toBe(200);
    expect(whole.json).toMatchObject({ name: 'big.default', resource: { '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', cluster_name: 'big.default' } });
    expect(whole.json.resource.endpoints[0].lb_endpoints).toHaveLength(ENDPOINTS);
    expect(whole.text.length).toBeGreaterThan(128 * 1024); // more than one chunk

    // Read the first bytes, stop reading, then hang up.
    await new Promise<void>((resolve, reject) => {
      const req = http.get(url, (res) => {
        res.once('data', () => {
          res.pause();
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 500);
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve() : reject(error)));
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(env.logs.filter((line) => line.includes('"event":"admin.failed"'))).toEqual([]);
    expect((await fetch(`${env.admin}/healthz`)).status).toBe(200);
  } finally {
    await env.app.stop();
  }
});
