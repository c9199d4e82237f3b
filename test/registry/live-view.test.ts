import type { Instance, Labels } from '../../src/model/instance';
import { hasLabels } from '../../src/model/instance';
import { SPLIT_AT } from '../../src/model/sharded-map';
import { Registry } from '../../src/registry/registry';

function inst(id: number, metadata: Record<string, string>, healthy = true, zone?: string): Instance {
  return {
    id: `i${id}`, service: 'shop', namespace: 'default', host: '10.0.0.1', port: 1000 + id, weight: 100,
    metadata, locality: zone ? { zone } : {}, healthy, ephemeral: true, ttlSeconds: 10,
  };
}

function brute(instances: readonly Instance[], labels: Labels): { ids: string[]; healthy: number } {
  const hit = instances.filter((i) => hasLabels(i, labels));
  return { ids: hit.map((i) => i.id).sort(), healthy: hit.filter((i) => i.healthy).length };
}

describe('live ServiceView', () => {
  it('keeps memoised subsets equal to a full scan through random registrations, re-registrations and removals', () => {
    const registry = new Registry();
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const asked: Labels[] = [
      { env: 'a' }, { env: 'b', user: 'u1' }, { env: '' }, { user: 'u2' }, { env: 'a', 'metaroute.io/zone': 'z1' }, { user: '', env: '' }, { env: 'c' },
    ];
    const live = new Map<string, Instance>();
    const first = inst(0, {});
    registry.upsert(first);
    live.set('i0', first);
    for (let step = 0; step < 3000; step++) {
      const id = rand(200);
      if (rand(5) === 0) {
        registry.remove('default', 'shop', `i${id}`);
        live.delete(`i${id}`);
      } else {
        const md: Record<string, string> = {};
        if (rand(3) > 0) md['env'] = ['a', 'b', 'c'][rand(3)]!;
        if (rand(2) > 0) md['user'] = `u${rand(3)}`;
        const i = inst(id, md, rand(4) > 0, rand(2) ? 'z1' : undefined);
        registry.upsert(i);
        live.set(i.id, i);
      }
      const view = registry.snapshot().services.get('default/shop')!;
      // Ask some label sets now (memoising them) so later steps update memos in place.
      const labels = asked[rand(asked.length)]!;
      const subset = view.subset(labels);
      const expected = brute([...live.values()], labels);
      expect(subset.instances.map((i) => i.id).sort()).toEqual(expected.ids);
      for (const i of subset.instances) expect(i).toBe(live.get(i.id)); // the latest registration's object, not a stale one
      expect(subset.healthy).toBe(expected.healthy);
      expect(view.all.instances.length).toBe(live.size);
    }
  });

  it('returns the same live subset object for the same labels, and bumps its version on change', () => {
    const registry = new Registry();
    registry.upsert(inst(1, { env: 'a' }));
    const view = registry.snapshot().services.get('default/shop')!;
    const a = view.subset({ env: 'a' });
    const v = a.version;
    expect(view.subset({ env: 'a' })).toBe(a);
    registry.upsert(inst(2, { env: 'a' }));
    expect(a.instances.length).toBe(2);
    expect(a.version).toBeGreaterThan(v);
    registry.upsert(inst(3, { env: 'b' }));
    expect(a.instances.length).toBe(2);
  });

  it('a one-label subset (served from its posting list) stays live as the label empties, changes hands and comes back', () => {
    const registry = new Registry();
    for (const id of [1, 2, 3]) registry.upsert(inst(id, { env: 'a' }, id !== 3, 'z1'));
    const view = registry.snapshot().services.get('default/shop')!;
    const a = view.subset({ env: 'a' });
    const zone = view.subset({ 'metaroute.io/zone': 'z1' });
    const ids = (s: { instances: readonly Instance[] }) => s.instances.map((i) => i.id).sort();
    expect(ids(a)).toEqual(['i1', 'i2', 'i3']);
    expect(a.healthy).toBe(2);
    expect(ids(zone)).toEqual(['i1', 'i2', 'i3']);
    registry.upsert(inst(1, { env: 'b' }, true, 'z1')); // re-registered with another value
    registry.remove('default', 'shop', 'i2');
    expect(ids(a)).toEqual(['i3']);
    expect(a.healthy).toBe(0);
    registry.remove('default', 'shop', 'i3');
    expect(a.instances).toEqual([]);
    expect(ids(zone)).toEqual(['i1']);
    registry.upsert(inst(4, { env: 'a' }));
    registry.upsert(inst(5, { env: 'a' }));
    expect(view.subset({ env: 'a' })).toBe(a);
    expect(ids(a)).toEqual(['i4', 'i5']);
    expect(a.healthy).toBe(2);
    expect(ids(view.subset({ env: 'b' }))).toEqual(['i1']); // one instance: a memo of its own
    registry.upsert(inst(6, { env: 'b' }));
    expect(ids(view.subset({ env: 'b' }))).toEqual(['i1', 'i6']);
  });

  it('a re-registration with the same labels and address puts the new object in every subset, posting and address', () => {
    const registry = new Registry();
    registry.upsert(inst(1, { env: 'a', user: 'u1' }, true, 'z1'));
    registry.upsert(inst(2, { env: 'a', user: 'u2' }, true, 'z1'));
    const view = registry.snapshot().services.get('default/shop')!;
    const env = view.subset({ env: 'a' }); // a posting set
    const user = view.subset({ user: 'u1' }); // one instance: a memo of its own
    const both = view.subset({ env: 'a', 'metaroute.io/zone': 'z1' }); // a memo over two labels
    const versions = [env.version, user.version, both.version, view.all.version];
    const down = { ...inst(1, { env: 'a', user: 'u1' }, false, 'z1'), weight: 7 };
    expect(registry.upsert(down)).toBeUndefined();
    for (const subset of [env, user, both, view.all]) {
      expect(subset.instances.find((i) => i.id === 'i1')).toBe(down);
      expect(subset.instances).toHaveLength(subset === user ? 1 : 2);
    }
    expect([env.healthy, user.healthy, both.healthy, view.all.healthy]).toEqual([1, 0, 1, 1]);
    expect([env.version, user.version, both.version, view.all.version].every((v, k) => v > versions[k]!)).toBe(true);
    expect(registry.at('default', 'shop', down.host, down.port)).toBe(down);
    expect(view.subset({ user: 'u1' })).toBe(user);
    // A later change of labels still moves it out of what it left.
    registry.upsert(inst(1, { env: 'b', user: 'u1' }, true, 'z1'));
    expect(env.instances.map((i) => i.id)).toEqual(['i2']);
    expect(both.instances.map((i) => i.id)).toEqual(['i2']);
  });

  it('keeps one instance per address, the latest registered there, through random moves and removals', () => {
    const registry = new Registry();
    let seed = 11;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const live = new Map<string, Instance>(); // the model: by id, the latest at an address evicting others
    const address = (i: Instance) => `${i.host}:${i.port}`;
    for (let step = 0; step < 3000; step++) {
      const id = `i${rand(60)}`;
      if (rand(6) === 0) {
        expect(registry.remove('default', 'shop', id)).toBe(live.delete(id));
        continue;
      }
      const i: Instance = { ...inst(0, { user: `u${rand(4)}` }), id, host: `10.0.0.${rand(2)}`, port: rand(20) };
      const holder = [...live.values()].find((other) => other.id !== id && address(other) === address(i));
      if (holder) live.delete(holder.id);
      live.set(id, i);
      expect(registry.upsert(i)?.id).toBe(holder?.id);
      const view = registry.snapshot().services.get('default/shop')!;
      expect(view.all.instances.map((x) => x.id).sort()).toEqual([...live.keys()].sort());
      for (const x of live.values()) expect(registry.at('default', 'shop', x.host, x.port)).toBe(x);
      const user = `u${rand(4)}`;
      expect(view.subset({ user }).instances.map((x) => x.id).sort()).toEqual(brute([...live.values()], { user }).ids);
    }
    for (const host of ['10.0.0.0', '10.0.0.1']) {
      for (let port = 0; port < 20; port++) {
        expect(registry.at('default', 'shop', host, port)).toBe([...live.values()].find((x) => x.host === host && x.port === port));
      }
    }
  });
});

describe('a service past the size where its maps are sharded', () => {
  it('answers by id, address, label and lease like a model through random removals, relabels, re-registrations and new ids', () => {
    let now = 1_000_000;
    const registry = new Registry(() => now);
    let seed = 5;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const ids = Math.floor(2.5 * SPLIT_AT);
    const live = new Map<string, { instance: Instance; at: number }>();
    const make = (n: number, version: string): Instance => ({
      ...inst(n, { version, user: `u${n}` }), host: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, port: 8080,
    });
    const register = (i: Instance) => {
      registry.upsert(i);
      live.set(i.id, { instance: i, at: now });
    };
    for (let n = 0; n < ids; n++) register(make(n, n % 2 ? 'a' : 'b'));
    for (let step = 0; step < 4 * SPLIT_AT; step++) {
      now += 100 * rand(3);
      const n = rand(2 * ids); // half of these ids are new
      const held = live.get(`i${n}`);
      const op = rand(4);
      if (op === 0) {
        registry.remove('default', 'shop', `i${n}`);
        live.delete(`i${n}`);
      } else if (op === 1 || !held) {
        register(make(n, rand(2) ? 'a' : 'b')); // a new id, or a relabel
      } else {
        register({ ...held.instance, healthy: rand(2) === 0 }); // a re-registration in place
      }
    }
    const view = registry.snapshot().services.get('default/shop')!;
    const mismatches: string[] = [];
    for (let n = 0; n < 2 * ids; n++) {
      const id = `i${n}`;
      const model = live.get(id);
      const host = make(n, 'a').host;
      if (view.get(id) !== model?.instance) mismatches.push(`get ${id}`);
      if (registry.at('default', 'shop', host, 8080) !== model?.instance) mismatches.push(`at ${host}`);
      if (view.withLabel('user', `u${n}`)[0] !== model?.instance) mismatches.push(`user u${n}`);
      if (model && registry.lastHeartbeat(view, model.instance) !== model.at) mismatches.push(`lease of ${id}: ${registry.lastHeartbeat(view, model.instance)}, not ${model.at}`);
    }
    const versionA = [...live.values()].filter((e) => e.instance.metadata['version'] === 'a').map((e) => e.instance.id).sort();
    if (view.subset({ version: 'a' }).instances.map((i) => i.id).sort().join() !== versionA.join()) mismatches.push('subset version=a');
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(view.instances.length).toBe(live.size);
    expect(live.size).toBeGreaterThan(SPLIT_AT);
  });
});

describe('expiry by deadline', () => {
  it('reports only leases whose deadline passed; a heartbeat moves the deadline; removal ends the lease', () => {
    let now = 0;
    const registry = new Registry(() => now);
    for (let i = 0; i < 5; i++) registry.upsert(inst(i, {}));
    registry.upsert({ ...inst(9, {}), ephemeral: false });
    now = 9000;
    registry.heartbeat('default', 'shop', 'i0');
    expect(registry.expired()).toEqual([]);
    now = 10001;
    expect(registry.expired().map((i) => i.id).sort()).toEqual(['i1', 'i2', 'i3', 'i4']);
    // Not removed through the store yet: reported again after the retry delay, not before.
    expect(registry.expired()).toEqual([]);
    registry.remove('default', 'shop', 'i1');
    now = 11002;
    expect(registry.expired().map((i) => i.id).sort()).toEqual(['i2', 'i3', 'i4']);
    now = 19001;
    expect(registry.expired(2).length).toBe(2);
    expect(registry.expired().map((i) => i.id)).toContain('i0');
  });

  it('a re-registration with a shorter TTL expires on the shorter deadline', () => {
    let now = 0;
    const registry = new Registry(() => now);
    registry.upsert({ ...inst(1, {}), ttlSeconds: 60 });
    registry.upsert({ ...inst(1, {}), ttlSeconds: 2 });
    now = 2001;
    expect(registry.expired().map((i) => i.id)).toEqual(['i1']);
  });

  it('a registry that does not expire (an ext_proc worker) queues no deadlines', () => {
    let now = 0;
    const registry = new Registry(() => now, { expires: false });
    const queued = (registry as unknown as { deadlines: { buckets: Map<number, unknown> } }).deadlines.buckets;
    for (let i = 0; i < 50; i++) registry.upsert(inst(i, {}));
    now = 60_000;
    expect(registry.hasExpired()).toBe(false);
    expect(registry.expired()).toEqual([]);
    expect(queued.size).toBe(0);
    expect(registry.snapshot().services.get('default/shop')!.instances).toHaveLength(50);
  });
});
