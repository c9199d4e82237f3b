import * as http from 'node:http';
import * as net from 'node:net';
import { api, startApp } from '../support/app';

/**
 * A single heartbeat and the DELETE calls read no body: one sent to them most likely meant a
 * batch call, so it is refused with 400 naming the call, and nothing changes. No body,
 * `Content-Length: 0` (what the agent sends) and an empty chunked body are accepted.
 */
let env: Awaited<ReturnType<typeof startApp>>;
beforeAll(async () => {
  env = await startApp({ registry: { ttlSeconds: 15, instances: [] } });
});
afterAll(() => env.app.stop());

const HEARTBEAT = '/v1/instances/default/shop/10.0.0.1:8080/heartbeat';
const INSTANCE = '/v1/instances/default/shop/10.0.0.1:8080';
const ROUTER_CONFIG = '/v1/routers/lane/config';

/** One call through node:http, with a body framed as asked: by Content-Length, or chunked (in two chunks when it has text). */
function send(method: string, urlPath: string, body: string | undefined, framing: 'length' | 'chunked' = 'length'): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = framing === 'chunked' ? { 'transfer-encoding': 'chunked' } : body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    const request = http.request(`${env.admin}${urlPath}`, { method, headers, agent: false }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode!, json: JSON.parse(text) }));
    });
    request.on('error', reject);
    if (body && framing === 'chunked') request.write(body.slice(0, 1));
    request.end(framing === 'chunked' ? body?.slice(1) : body);
  });
}

function registered(): boolean {
  return env.app.registry.get('default', 'shop', '10.0.0.1:8080') !== undefined;
}

beforeEach(async () => {
  expect((await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '10.0.0.1', port: 8080, ephemeral: true })).status).toBe(200);
  expect((await api(env.admin, 'PUT', ROUTER_CONFIG, {})).status).toBe(200);
});

describe('a body sent to a call that takes none', () => {
  test.each([
    ['PUT', HEARTBEAT, 'PUT /v1/instances/{namespace}/{service}/{id}/heartbeat takes no body (SENT); nothing was changed. To heartbeat many instances at once: POST /v1/heartbeats {"instances": [...]}'],
    ['DELETE', INSTANCE, 'DELETE /v1/instances/{namespace}/{service}/{id} takes no body (SENT); nothing was changed. To deregister many instances at once: POST /v1/instances/batch {"deregister": [...]}'],
    ['DELETE', ROUTER_CONFIG, "DELETE /v1/routers/{name}/config takes no body (SENT); nothing was changed. To push a router's config: PUT /v1/routers/{name}/config"],
  ])('%s %s -> 400 naming the call, by Content-Length or chunked', async (method, urlPath, message) => {
    const sent = { length: '16 bytes sent', chunked: 'a chunked one was sent' };
    for (const framing of ['length', 'chunked'] as const) {
      expect(await send(method, urlPath, '{"instances":[]}', framing)).toEqual({ status: 400, json: { error: message.replace('SENT', sent[framing]), details: [] } });
    }
    expect(registered()).toBe(true);
    expect((await api(env.admin, 'GET', '/v1/routers')).json.chain.find((r: { name: string }) => r.name === 'lane').config).toEqual({});
  });

  test('refused before it is looked up: a heartbeat with a body for an unknown instance is a 400, not a 404', async () => {
    expect((await send('PUT', '/v1/instances/default/shop/nope/heartbeat', '{}')).status).toBe(400);
  });

  test.each([
    ['Content-Length', 'Content-Length: 2\r\n\r\n{}'],
    ['chunked', 'Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n'],
  ])('the connection goes on: a request pipelined after a refused body (%s) is answered', async (_framing, body) => {
    const socket = net.connect(Number(new URL(env.admin).port), '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(`PUT ${HEARTBEAT} HTTP/1.1\r\nHost: x\r\n${body}GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await closed;
    expect(text.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 400', 'HTTP/1.1 200']);
  });
});

describe('no body, or an empty one, is accepted', () => {
  test.each([
    ['no body', undefined, 'length'],
    ['Content-Length: 0', '', 'length'],
    ['an empty chunked body', '', 'chunked'],
  ] as const)('%s', async (_what, body, framing) => {
    expect(await send('PUT', HEARTBEAT, body, framing)).toEqual({ status: 200, json: { status: 'ok' } });
    expect(await send('DELETE', ROUTER_CONFIG, body, framing)).toEqual({ status: 200, json: { status: 'withdrawn' } });
    expect(await send('DELETE', INSTANCE, body, framing)).toEqual({ status: 200, json: { status: 'deregistered' } });
    expect(registered()).toBe(false);
  });
});
