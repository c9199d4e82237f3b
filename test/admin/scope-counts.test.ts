import { AdminAuth, type AuthToken } from '../../src/admin/auth';
import { ScopeCounts } from '../../src/admin/scope-counts';
import * as tokenScope from '../../src/admin/token-scope';
import type { Instance } from '../../src/model/instance';
import { Registry } from '../../src/registry/registry';

/**
 * The running counts must equal what a scan of the registry (`countInScope`, what every
 * registration call computed before) finds, through registrations, replacements that change
 * labels, locality or address, displacements at an address, deregistrations and expiry.
 */
const token = (name: string, scope: Partial<AuthToken>): AuthToken => ({ token: `${name}-0123456789abcdef`, services: [], labels: {}, optionalLabels: {}, addresses: [], maxInstances: 10, admin: false, ...scope });
const TOKENS = [
  token('whole', { services: ['shop/*'], optionalLabels: { '*': ['*'] } }),
  token('named', { services: ['cart'], optionalLabels: { version: ['v1', 'v2'], user: ['*'] } }),
  token('cidr', { services: ['*'], optionalLabels: { '*': ['*'] }, addresses: ['10.1.0.0/16'] }),
  token('any-user', { services: ['shop/cart', 'ops/db'], labels: { user: ['*'] }, optionalLabels: { 'metaroute.io/zone': ['z1'] } }),
  token('user-a', { services: ['*'], labels: { user: ['A'] }, optionalLabels: { '*': ['*'] } }), // counted from postings
  token('unlimited', { services: ['*'], maxInstances: undefined }),
];

/** A small deterministic generator (mulberry32), so a failure repeats. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('running counts equal a scan of the registry through every kind of change', () => {
  let now = 1_000_000;
  const registry = new Registry(() => now);
  const auth = new AdminAuth({ tokens: TOKENS, requireAdminAuth: 'auto' }, '127.0.0.1');
  const scan = (t: AuthToken) => tokenScope.countInScope(t, auth.allowedAddresses(t), [...registry.snapshot().services.values()].flatMap((v) => v.instances));
  const next = random(7);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;

  // Some instances are there before the counts start, as after a restart.
  const make = (id: string): Instance => {
    const metadata: Record<string, string> = {};
    if (next() < 0.6) metadata.user = pick(['A', 'B', 'C']);
    if (next() < 0.5) metadata.version = pick(['v1', 'v2', 'v3']);
    if (next() < 0.1) metadata.other = 'x';
    return {
      id,
      namespace: pick(['shop', 'ops', 'default']),
      service: pick(['cart', 'db', 'web']),
      host: `${pick(['10.1', '10.2', '169.254'])}.0.${Math.floor(next() * 6)}`,
      port: pick([80, 81]),
      weight: 1,
      metadata,
      locality: next() < 0.5 ? { zone: pick(['z1', 'z2']) } : {},
      healthy: next() < 0.8,
      ephemeral: next() < 0.5,
      ttlSeconds: pick([1, 5, 30]),
    };
  };
  for (let i = 0; i < 40; i++) registry.upsert(make(`i${i}`));
  const counts = new ScopeCounts(registry, auth.tokens, (t) => auth.allowedAddresses(t));

  const registered = (): Instance[] => [...registry.snapshot().services.values()].flatMap((v) => v.instances);
  const check = (step: number) => {
    for (const t of TOKENS) if (t.maxInstances !== undefined) expect([step, t.token, counts.registered(t)]).toEqual([step, t.token, scan(t)]);
  };
  check(-1);
  for (let step = 0; step < 3000; step++) {
    const existing = registered();
    const roll = next();
    if (roll < 0.35 || existing.length === 0) {
      registry.upsert(make(`i${Math.floor(next() * 200)}`)); // new, or the same id elsewhere (replaced, or displacing one at its address)
    } else if (roll < 0.55) {
      const was = pick(existing); // re-registered: same service, other labels, locality or address, or the same ones
      const changed = make(was.id);
      registry.upsert(next() < 0.3 ? { ...was, healthy: !was.healthy } : { ...changed, namespace: was.namespace, service: was.service });
    } else if (roll < 0.75) {
      const was = pick(existing);
      registry.remove(was.namespace, was.service, was.id);
    } else if (roll < 0.8) {
      registry.batch(() => {
        for (let k = 0; k < 5; k++) registry.upsert(make(`i${Math.floor(next() * 200)}`));
      });
    } else if (roll < 0.9) {
      const was = pick(existing);
      registry.heartbeat(was.namespace, was.service, was.id);
    } else {
      now += 2000; // expiry: the store deletes what expired, and the registry follows
      for (const gone of registry.expired()) registry.remove(gone.namespace, gone.service, gone.id);
    }
    check(step);
  }
  expect(registered().length).toBeGreaterThan(20); // the walk did not just empty the registry
  counts.close();
});

test('an instance change costs the running scopes covering its service, and nothing without one', () => {
  const registry = new Registry();
  const auth = new AdminAuth({ tokens: [token('cart', { services: ['shop/cart'] }), token('user-a', { services: ['*'], labels: { user: ['A'] } })], requireAdminAuth: 'auto' }, '127.0.0.1');
  const listen = jest.spyOn(registry, 'onInstanceChange');
  const counts = new ScopeCounts(registry, auth.tokens.slice(1), (t) => auth.allowedAddresses(t));
  expect(listen).not.toHaveBeenCalled(); // user-a is counted from postings: nothing follows the registry
  counts.close();

  const allowed = jest.fn((t: AuthToken) => auth.allowedAddresses(t));
  const running = new ScopeCounts(registry, auth.tokens, allowed);
  allowed.mockClear(); // the first count scans
  const instance = (id: string, service: string): Instance => ({ id, namespace: 'shop', service, host: `10.0.0.${id}`, port: 80, weight: 1, metadata: {}, locality: {}, healthy: true, ephemeral: false, ttlSeconds: 30 });
  registry.upsert(instance('1', 'web'));
  expect(allowed).not.toHaveBeenCalled(); // no running scope covers shop/web
  registry.upsert(instance('2', 'cart'));
  expect(allowed).toHaveBeenCalledTimes(1);
  expect(running.registered(auth.tokens[0]!)).toBe(1);
  running.close();
  registry.upsert(instance('3', 'cart'));
  expect(allowed).toHaveBeenCalledTimes(1); // closed: no longer follows
});
