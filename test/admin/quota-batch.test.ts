import type { AuthConfig } from '../../src/admin/auth';
import * as tokenScope from '../../src/admin/token-scope';
import { startApp } from '../support/app';

/**
 * A registration call from a token with maxInstances must not scan the token's instances: per
 * entry, a 2,000-entry batch at 8,000 instances held the event loop for 45 s; per call, one
 * registration at 100,000 instances 0.3-0.9 s. The count is kept as the registry changes.
 */
const QUOTA = 'quota-0123456789abcdef';
const AUTH: AuthConfig = {
  requireAdminAuth: 'auto',
  tokens: [{ token: QUOTA, services: ['quota'], labels: {}, optionalLabels: {}, addresses: [], maxInstances: 2500, admin: false }],
};

let env: Awaited<ReturnType<typeof startApp>>;
beforeAll(async () => {
  env = await startApp({ auth: AUTH });
});
afterAll(() => env.app.stop());
afterEach(() => jest.restoreAllMocks()); // a failed test's spy would otherwise wrap the next one's

const entries = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ service: 'quota', host: `10.0.${(from + i) >> 8}.${(from + i) & 255}`, port: 80, ephemeral: false }));

async function batch(register: unknown[]) {
  const response = await fetch(`${env.admin}/v1/instances/batch`, { method: 'POST', headers: { authorization: `Bearer ${QUOTA}`, 'content-type': 'application/json' }, body: JSON.stringify({ register }) });
  return { status: response.status, json: (await response.json()) as { error?: string; registered?: number } };
}

const registered = () => env.app.registry.snapshot().services.get('default/quota')?.instances.length ?? 0;

test('never scans the instances in scope to count them, and refuses the entry past the quota', async () => {
  const counts = jest.spyOn(tokenScope, 'countInScope');
  expect(await batch(entries(0, 1000))).toEqual({ status: 200, json: { registered: 1000, deregistered: 0, missing: [] } });
  expect(await batch(entries(1000, 1000))).toEqual({ status: 200, json: { registered: 1000, deregistered: 0, missing: [] } });

  // 500 fit (and 10 already registered are no new instance); entry 510 is the 2,501st.
  const over = await batch([...entries(1990, 10), ...entries(2000, 501)]);
  expect(over).toEqual({ status: 403, json: { error: 'register[510]: token may register at most 2500 instances; 2000 are registered within its scope, and this would add 501; nothing was changed', details: [] } });
  expect(registered()).toBe(2000);
  expect(counts).not.toHaveBeenCalled();
});

describe('a token that requires a label value', () => {
  const USER_A = 'user-a-0123456789abcdef';
  const OTHERS = 'others-0123456789abcdef';
  let shared: Awaited<ReturnType<typeof startApp>>;
  beforeAll(async () => {
    shared = await startApp({
      auth: {
        requireAdminAuth: 'auto',
        tokens: [
          { token: USER_A, services: ['shared'], labels: { user: ['A'] }, optionalLabels: {}, addresses: [], maxInstances: 3, admin: false },
          { token: OTHERS, services: ['shared'], labels: {}, optionalLabels: { '*': ['*'] }, addresses: [], maxInstances: undefined, admin: false },
        ],
      },
    });
  });
  afterAll(() => shared.app.stop());

  const register = async (token: string, register: unknown[]) => {
    const response = await fetch(`${shared.admin}/v1/instances/batch`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ register }) });
    return { status: response.status, json: (await response.json()) as { error?: string } };
  };
  const of = (user: string, from: number, n: number) => Array.from({ length: n }, (_, i) => ({ service: 'shared', host: `10.1.${(from + i) >> 8}.${(from + i) & 255}`, port: 80, metadata: { user } }));

  test('its quota counts only the instances carrying that value, not every instance of the service', async () => {
    expect((await register(OTHERS, [...of('B', 0, 500), ...of('C', 500, 500)])).status).toBe(200);
    let looked = 0;
    const count = tokenScope.countInScope;
    const counts = jest.spyOn(tokenScope, 'countInScope').mockImplementation((scope, allowed, instances) => {
      const list = [...instances];
      looked += list.length;
      return count(scope, allowed, list);
    });
    expect((await register(USER_A, of('A', 2000, 1))).status).toBe(200);
    expect((await register(USER_A, of('A', 2001, 2))).status).toBe(200);
    expect(await register(USER_A, of('A', 2003, 1))).toEqual({ status: 403, json: expect.objectContaining({ error: 'register[0]: token may register at most 3 instances; 3 are registered within its scope, and this would add 1; nothing was changed' }) });
    expect(counts).toHaveBeenCalledTimes(3);
    expect(looked).toBe(0 + 1 + 3); // A's instances only, as they were at each call (one alone, then a set of them)
  });
});
