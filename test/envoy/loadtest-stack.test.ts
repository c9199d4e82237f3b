import * as fs from 'node:fs';
import { ENVOY, freePort } from '../support/envoy';
import { describeWith } from '../support/requires';
import { sharedCli } from '../support/transpile';

// loadtest/stack.js is plain JS for k6 users and run-h2load.js; it has no type declarations.
const { startStack } = require('../../loadtest/stack') as { startStack: (options: object) => Promise<any> };

/**
 * The load test's setup as shipped (loadtest/stack.js: metaroute, Envoy on envoy/gateway.yaml,
 * the backends, loadtest/rules.yaml, per-user tokens): every flow of loadtest/gateway.ts
 * reaches the backend its rule names, once each, so a load run measures a working gateway.
 */
describeWith(ENVOY, 'loadtest stack through real Envoy', () => {
  let stack: any;

  beforeAll(async () => {
    stack = await startStack({ gatewayPort: await freePort(), users: 3, metaroute: [sharedCli()] });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    if (stack) fs.rmSync(stack.dir, { recursive: true, force: true });
  });

  async function labels(urlPath: string, headers: Record<string, string>): Promise<{ status: number; labels: string | null }> {
    const res = await fetch(`${stack.url}${urlPath}`, { headers });
    await res.text();
    return { status: res.status, labels: res.headers.get('x-instance-labels') };
  }

  test("per_user: a token with sub=u1 reaches u1's container; the same id in a header reaches none", async () => {
    expect(await labels('/aigc/generate', { authorization: `Bearer ${stack.tokens.u1}` })).toEqual({ status: 200, labels: 'user=u1' });
    expect(await labels('/aigc/generate', { authorization: `Bearer ${stack.tokens.u2}` })).toEqual({ status: 200, labels: 'user=u2' });
    expect((await labels('/aigc/generate', { 'x-user-id': 'u1' })).status).toBe(503);
  });

  test('staff, vip, even users and anonymous requests reach their subsets', async () => {
    expect(await labels('/', { 'x-user-role': 'staff' })).toEqual({ status: 200, labels: 'lane=gray' });
    expect(await labels('/', { 'x-user-tier': 'vip' })).toEqual({ status: 200, labels: 'pool=vip' });
    expect(await labels('/', { 'x-user-id': 'u2' })).toEqual({ status: 200, labels: 'color=blue' });
    expect(await labels('/', {})).toEqual({ status: 200, labels: expect.stringMatching(/^color=(blue|green)$/) });
  });

  test('the backends count what they got per flow and user (what run-h2load.js checks routing with)', async () => {
    await fetch(`${stack.url}/`, { headers: { 'x-user-role': 'staff', 'x-loadtest-flow': 'staff', 'x-loadtest-user': 'u7' } }).then((r) => r.text());
    const gray = stack.backends.find((b: any) => b.id === 'shop-gray');
    expect(gray.hits.get('staff u7')).toBe(1);
  });
});
