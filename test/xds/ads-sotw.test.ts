import * as grpc from '@grpc/grpc-js';
import { envoyRoot } from '../../src/protos/root';
import * as codec from '../../src/xds/codec';
import { ResourceCache } from '../../src/xds/cache';
import * as resources from '../../src/xds/resources';
import { CDS } from '../../src/xds/types';
import { TYPE, XdsTestClient, destination, eventually, instance, names, rule, ruleSnapshot, startXds, type Dump, type Harness } from './helpers';

let h: Harness;
const clients: XdsTestClient[] = [];

function client(protocol: 'sotw' | 'delta' = 'sotw', path: 'ads' | 'cds' | 'eds' = 'ads'): XdsTestClient {
  const c = new XdsTestClient(h.port, protocol, path);
  clients.push(c);
  return c;
}

beforeEach(async () => {
  h = await startXds();
  h.registry.upsert(instance('shop', 9001, { metadata: { env: 'prod' } }));
  h.registry.upsert(instance('shop', 9002, { metadata: { env: 'gray' } }));
  h.registry.upsert(instance('cart', 9101));
  await new Promise((r) => setTimeout(r, 30)); // let the initial debounce pass
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await h.close();
});

type Answer = Awaited<ReturnType<XdsTestClient['next']>>;

/**
 * The next EDS response, past one that resent a CLA the client holds: a CLA whose build is not
 * done within its first slice (a busy machine, or the turn's slice budget spent on other work)
 * goes out at its newest finished version, the new one once that response is ACKed
 * (docs/XDS.md). `held`: the bytes the client holds.
 */
async function pastResend(c: XdsTestClient, response: Answer, held: Buffer, subscribed: string[]): Promise<Answer> {
  if (!response.resources[0]!.bytes.equals(held)) return response;
  c.ack(response, subscribed);
  const next = await c.next();
  expect(next.type_url).toBe(TYPE.EDS);
  return next;
}

function streamDump(): Dump {
  return (h.xds.configDump() as Dump).streams[0];
}

describe('SotW ADS', () => {
  it('serves every cluster to a wildcard CDS request and CLAs by name; an ACK gets no answer', async () => {
    const c = client();
    c.send({ node: { id: 'envoy-1', cluster: 'edge' }, type_url: TYPE.CDS });
    const cds = await c.next();
    expect(cds.type_url).toBe(TYPE.CDS);
    expect(cds.nonce).not.toBe('');
    expect(names(cds)).toEqual(['cart.default', 'shop.default']);
    const shop = cds.resources.find((r) => r.name === 'shop.default')!.message;
    expect(shop.eds_cluster_config).toEqual({ eds_config: { ads: {}, resource_api_version: 'V3', config_source_specifier: 'ads' }, service_name: 'shop.default' });
    c.ack(cds, []);
    await c.none();

    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
    const eds = await c.next();
    expect(eds.type_url).toBe(TYPE.EDS);
    expect(names(eds)).toEqual(['shop.default']);
    expect(eds.resources[0]!.message.endpoints[0].lb_endpoints).toHaveLength(2);
    expect(eds.nonce).not.toBe(cds.nonce);
    c.ack(eds, ['shop.default']);
    await c.none();

    const dump = streamDump();
    expect(dump.node).toEqual({ id: 'envoy-1', cluster: 'edge', user_agent_name: '' });
    expect(dump.types.cds).toMatchObject({ wildcard: true, last_ack: { version: cds.version_info, nonce: cds.nonce } });
    expect(dump.types.eds).toMatchObject({ subscriptions: ['shop.default'], last_ack: { version: eds.version_info } });
  });

  it('wildcard CDS streams share one body per version, and a change gives every one the new full state', async () => {
    const [a, b, named] = [client(), client(), client()];
    a.send({ node: { id: 'a' }, type_url: TYPE.CDS });
    b.send({ node: { id: 'b' }, type_url: TYPE.CDS, resource_names: ['*'] });
    named.send({ node: { id: 'n' }, type_url: TYPE.CDS, resource_names: ['shop.default'] });
    // An ACK repeats the subscription: none for the legacy wildcard, '*' for the explicit one.
    const subscription = new Map([[a, []], [b, ['*']]]);
    for (const [c, subscribed] of subscription) {
      const first = await c.next();
      expect(names(first)).toEqual(['cart.default', 'shop.default']);
      c.ack(first, subscribed);
    }
    const firstNamed = await named.next();
    expect(names(firstNamed)).toEqual(['shop.default']);
    named.ack(firstNamed, ['shop.default']);

    const encodings = jest.spyOn(codec, 'encodeSotwResources');
    h.registry.upsert(instance('pay', 9201)); // a new cluster
    for (const c of [a, b]) {
      const update = await c.next();
      expect(names(update)).toEqual(['cart.default', 'pay.default', 'shop.default']);
      expect(update.resources.find((r) => r.name === 'pay.default')!.message.eds_cluster_config.service_name).toBe('pay.default');
    }
    await named.none(); // its one cluster did not change
    expect(encodings).toHaveBeenCalledTimes(1); // one body for both wildcard streams
    encodings.mockRestore();
  });

  it('pushes only the changed resource, with a new per-resource version, and counts pushes', async () => {
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default', 'cart.default'] });
    const initial = await c.ackUntil(['cart.default', 'shop.default'], ['shop.default', 'cart.default']);
    const first = initial[initial.length - 1]!;
    const before = (h.xds.configDump() as Dump).types.eds.resources;

    h.registry.upsert(instance('shop', 9003));
    const update = await c.next();
    expect(names(update)).toEqual(['shop.default']);
    expect(update.resources[0]!.message.endpoints[0].lb_endpoints).toHaveLength(3);
    expect(Number(update.version_info)).toBeGreaterThan(Number(first.version_info));

    const after = (h.xds.configDump() as Dump).types.eds.resources;
    const version = (list: { name: string; version: string }[], n: string): string => list.find((r) => r.name === n)!.version;
    expect(version(after, 'cart.default')).toBe(version(before, 'cart.default'));
    expect(version(after, 'shop.default')).not.toBe(version(before, 'shop.default'));
    expect(h.metrics.render()).toMatch(new RegExp(`metaroute_xds_pushes_total\\{type="eds"\\} ${initial.length + 1}\n`));
    expect(h.metrics.render()).toMatch(/metaroute_xds_streams 1/);
  });

  it('holds a NACKed version: no resend loop, logged, counted, dumped, and a later change is sent', async () => {
    const c = client();
    c.send({ node: { id: 'picky' }, type_url: TYPE.EDS, resource_names: ['shop.default'] });
    const good = await c.next();
    c.ack(good, ['shop.default']);
    // The change must follow the ACK: pushed first, it would make the ACK's nonce stale.
    await eventually(() => streamDump()?.types.eds?.last_ack?.nonce === good.nonce, 3000, 'the ACK to be recorded');
    h.registry.upsert(instance('shop', 9003));
    const bad = await c.next();
    c.send({
      type_url: TYPE.EDS,
      version_info: good.version_info,
      response_nonce: bad.nonce,
      resource_names: ['shop.default'],
      error_detail: { code: 3, message: 'endpoint rejected' },
    });
    await c.none(300);

    expect(h.metrics.render()).toMatch(/metaroute_xds_nacks_total\{type="eds"\} 1/);
    expect(h.logs.some((l) => l.includes('picky') && l.includes('"event":"xds.nack"') && l.includes('"type":"eds"') && l.includes('endpoint rejected'))).toBe(true);
    const eds = streamDump().types.eds;
    expect(eds.nack).toMatchObject({ version: bad.version_info, nonce: bad.nonce, error: { code: 3, message: 'endpoint rejected' } });
    expect(Object.keys(eds.nack.resources)).toEqual(['shop.default']);
    expect(eds.last_ack).toMatchObject({ version: good.version_info, nonce: good.nonce });

    // The same NACK again, now also asking for cart: only cart is sent, the held shop is not, and it is counted once.
    c.send({
      type_url: TYPE.EDS,
      version_info: good.version_info,
      response_nonce: bad.nonce,
      resource_names: ['shop.default', 'cart.default'],
      error_detail: { code: 3, message: 'endpoint rejected' },
    });
    const cart = await c.next();
    expect(names(cart)).toEqual(['cart.default']);
    expect(h.metrics.render()).toMatch(/metaroute_xds_nacks_total\{type="eds"\} 1/);
    c.ack(cart, ['shop.default', 'cart.default']);
    await c.none();

    // The next real change of shop goes out; accepting it clears the held NACK.
    h.registry.remove('default', 'shop', 'shop-9003');
    const fixed = await c.next();
    expect(names(fixed)).toEqual(['shop.default']);
    c.ack(fixed, ['shop.default', 'cart.default']);
    await eventually(() => streamDump().types.eds.nack === null, 2000, 'NACK cleared');
  });

  it('answers nothing to a stale nonce but keeps its new subscription for the next response', async () => {
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
    const r1 = await c.next();
    c.ack(r1, ['shop.default']);
    h.registry.upsert(instance('shop', 9003));
    const r2 = await c.next();
    expect(r2.nonce).not.toBe(r1.nonce);

    // Sent as if before r2 arrived: it names r1, no longer the newest response.
    c.send({ type_url: TYPE.EDS, version_info: r1.version_info, response_nonce: r1.nonce, resource_names: ['shop.default', 'cart.default'] });
    await c.none(200);
    expect(streamDump().types.eds.subscriptions).toEqual(['cart.default', 'shop.default']);

    c.ack(r2, ['shop.default', 'cart.default']);
    const r3 = await c.next();
    expect(names(r3)).toEqual(['cart.default']);
  });

  it('resends a resource unsubscribed and subscribed again while a response was unanswered: the client dropped it', async () => {
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default', 'cart.default'] });
    await c.ackUntil(['cart.default', 'shop.default'], ['shop.default', 'cart.default']);
    h.registry.upsert(instance('shop', 9003));
    const r2 = await c.next();
    expect(names(r2)).toEqual(['shop.default']);

    // Sent before r2 arrived (stale: they name the response before): cart's cluster went, then came back.
    const before = { type_url: TYPE.EDS, version_info: '', response_nonce: 'stale' };
    c.send({ ...before, resource_names: ['shop.default'] });
    c.send({ ...before, resource_names: ['shop.default', 'cart.default'] });
    await c.none(200);
    c.ack(r2, ['shop.default', 'cart.default']);
    expect(names(await c.next())).toEqual(['cart.default']);
  });

  it('resends what only the wildcard served when the wildcard ends and comes back while a response was unanswered: the client dropped it', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names: ['*'] });
    c.ack(await c.next(), ['*']);
    h.registry.upsert(instance('later', 9401));
    const r2 = await c.next();
    expect(names(r2)).toEqual(['cart.default', 'later.default', 'shop.default']);

    // Sent before r2 arrived (stale: they name the response before): the wildcard ended, then came back.
    const before = { type_url: TYPE.CDS, version_info: '', response_nonce: 'stale' };
    c.send({ ...before, resource_names: ['shop.default'] });
    c.send({ ...before, resource_names: ['*'] });
    await c.none(200);
    c.ack(r2, ['*']);
    expect(names(await c.next())).toEqual(['cart.default', 'later.default', 'shop.default']);
  });

  it('answers a CDS request by name that adds a cluster that does not exist: the response without it says so', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names: ['shop.default'] });
    const first = await c.next();
    expect(names(first)).toEqual(['shop.default']);
    c.ack(first, ['shop.default', 'nope.default']);
    const second = await c.next();
    expect(names(second)).toEqual(['shop.default']);
    c.ack(second, ['shop.default', 'nope.default']);
    await c.none(200); // answered once, not again with each ACK
  });

  it('sends one response per type at a time: changes meanwhile go out together, at their newest, once the last is ACKed', async () => {
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default', 'cart.default'] });
    const r1 = await c.next();
    h.registry.upsert(instance('shop', 9003));
    h.registry.upsert(instance('shop', 9004));
    h.registry.upsert(instance('cart', 9103));
    await c.none(200); // r1 not yet ACKed
    c.ack(r1, ['shop.default', 'cart.default']);
    const r2 = await c.next();
    const newest = new Map(r2.resources.map((r) => [r.name, r]));
    c.ack(r2, ['shop.default', 'cart.default']);
    if (newest.size === 1) {
      // A build was not done within its first slice (a busy machine, or the turn's budget spent): what was built went out, the rest follows the ACK.
      const r3 = await c.next();
      for (const r of r3.resources) newest.set(r.name, r);
      c.ack(r3, ['shop.default', 'cart.default']);
    }
    expect([...newest.keys()].sort()).toEqual(['cart.default', 'shop.default']);
    expect(newest.get('shop.default')!.message.endpoints[0].lb_endpoints).toHaveLength(4);
    expect(newest.get('cart.default')!.message.endpoints[0].lb_endpoints).toHaveLength(2);
    await c.none();
  });

  it('after a slow answer to a large response, waits as long again, but not for a new subscription', async () => {
    // A CLA of about 1.3 MB: large enough to earn a rest after its answer. And one whose first
    // build takes more than one slice, to subscribe to later.
    h.registry.batch(() => {
      for (let i = 0; i < 13_000; i++) h.registry.upsert(instance('bulk', 10_000 + i, { host: `10.0.${i >> 8}.${i & 255}`, metadata: { env: `e${i % 7}`, version: `v${i % 3}`, zone: `zone-${i % 5}` } }));
      for (let i = 0; i < 5_000; i++) h.registry.upsert(instance('wide', 10_000 + i, { host: `10.1.${i >> 8}.${i & 255}`, metadata: { env: `e${i % 7}` } }));
    });
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names: ['bulk.default'] });
    const r1 = await c.next(5000);
    await new Promise((resolve) => setTimeout(resolve, 600)); // the client takes 600 ms to answer
    c.ack(r1, ['bulk.default']);
    h.registry.upsert(instance('bulk', 10_000, { host: '10.0.0.0', weight: 7 }));
    await c.none(300); // resting
    const r2 = await c.next(3000);
    expect(names(r2)).toEqual(['bulk.default']);

    // This time 1500 ms, so "at once" below has a margin a loaded CI machine cannot eat up.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    c.ack(r2, ['bulk.default']);
    h.registry.upsert(instance('bulk', 10_000, { host: '10.0.0.0', weight: 8 }));
    await c.none(100); // resting again, for about 1400 ms more
    c.ack(r2, ['bulk.default', 'wide.default']); // a new subscription goes out at once, once built
    const r3 = await c.next(1000);
    expect(names(r3)).toContain('wide.default');
    if (!names(r3).includes('bulk.default')) {
      c.ack(r3, ['bulk.default', 'wide.default']);
      expect(names(await c.next(3000))).toEqual(['bulk.default']); // what rested follows
    }
  });

  it('answers EDS while a CDS response waits for its answer: Envoy warming a new cluster answers CDS only once it has the CLA', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names: [] });
    c.ack(await c.next(), []);
    h.registry.upsert(instance('new', 9201));
    const added = await c.next(); // Envoy warms new.default and pauses CDS: no ACK until its CLA came
    expect(names(added)).toContain('new.default');
    h.registry.upsert(instance('more', 9301)); // a second cluster change, held until that ACK
    await c.none(100); // pushed (and held) before Envoy asks for the CLA
    c.send({ type_url: TYPE.EDS, resource_names: ['new.default'] });
    const eds = await c.next(1000);
    expect([eds.type_url, names(eds)]).toEqual([TYPE.EDS, ['new.default']]);
    c.ack(eds, ['new.default']);
    c.ack(added, []);
    expect(names(await c.next())).toContain('more.default');
  });

  it('sends a CLA again after its cluster change that waited for the last CDS answer', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names: [] });
    const cds = await c.next();
    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
    const eds = await c.next();
    c.ack(eds, ['shop.default']);
    // cds is not answered yet: a cluster change and an endpoint change in one push; the endpoints go out at once.
    h.setRules(ruleSnapshot([rule('inbound', 'shop', [destination({ env: 'gray' }), destination({ version: 'v1' }, { name: 'v1' })])]));
    h.registry.upsert(instance('shop', 9003));
    const endpoints = await c.next();
    expect(endpoints.type_url).toBe(TYPE.EDS);
    expect(endpoints.resources[0]!.message.endpoints[0].lb_endpoints).toHaveLength(3);
    c.ack(endpoints, ['shop.default']);
    c.ack(cds, []);
    const cluster = await c.next();
    expect(cluster.type_url).toBe(TYPE.CDS);
    c.ack(cluster, []);
    const again = await c.next(); // the changed cluster re-warms in Envoy and needs its CLA
    expect([again.type_url, names(again)]).toEqual([TYPE.EDS, ['shop.default']]);
  });

  it('sends a CLA again after a cluster change whose diff found the cluster gone, back and changed by the send', async () => {
    // Selectors over env and version, then one over both: the Cluster changes, its CLA (endpoint
    // metadata of the same keys) does not, so only the cluster change can send the CLA again.
    h.setRules(ruleSnapshot([rule('inbound', 'shop', [destination({ env: 'gray' }), destination({ version: 'v1' }, { name: 'v1' })])]));
    h.xds.rebuildNow(); // in place before the client subscribes, not pushed during the test
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names: [] });
    c.ack(await c.next(), []);
    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
    c.ack(await c.next(), ['shop.default']);
    // The race of a diff in slices, made certain: its look at shop's Cluster finds none (removed
    // meanwhile), and by the send the Cluster is back, changed.
    const get = ResourceCache.prototype.get;
    let hide = true;
    const lookups = jest.spyOn(ResourceCache.prototype, 'get').mockImplementation(function (this: ResourceCache, type, name) {
      if (hide && type === CDS && name === 'shop.default' && new Error().stack!.includes('diffHolding')) {
        hide = false;
        return undefined;
      }
      return get.call(this, type, name);
    });
    try {
      h.setRules(ruleSnapshot([rule('inbound', 'shop', [destination({ env: 'gray', version: 'v1' })])]));
      const cluster = await c.next();
      expect([cluster.type_url, hide]).toEqual([TYPE.CDS, false]);
      expect(names(cluster)).toContain('shop.default');
      c.ack(cluster, []);
      const again = await c.next(); // the changed cluster re-warms in Envoy and needs its CLA
      expect([again.type_url, names(again)]).toEqual([TYPE.EDS, ['shop.default']]);
    } finally {
      lookups.mockRestore();
    }
  });

  it('subscribes a request naming thousands of names anew in slices, handling the requests after it in order', async () => {
    const c = client();
    const many = [...Array.from({ length: 60_000 }, (_, i) => `absent-${i}.default`), 'shop.default'];
    c.send({ type_url: TYPE.EDS, resource_names: many });
    c.send({ type_url: TYPE.EDS, resource_names: ['cart.default'] }); // arrives while the first is handled
    const subscriptions = (): unknown => (h.xds.configDump() as Dump).streams[0].types.eds.subscriptions;
    const first = await c.next();
    // The second was handled right after the first, before any response went out: not lost, nor
    // undone by the first's steps that went on after it arrived.
    expect([subscriptions(), names(first)]).toEqual([['cart.default'], ['cart.default']]);
  });

  it('ends a legacy wildcard (a first CDS request without names) once a request names resources without "*"', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names: [] });
    const all = await c.next();
    expect(names(all)).toEqual(['cart.default', 'shop.default']);
    c.ack(all, ['shop.default']);
    // Newly requested by name, shop is sent again though the wildcard sent it unasked (the xDS
    // protocol: "the server must resend any newly requested resources").
    const named = await c.next();
    expect(names(named)).toEqual(['shop.default']);
    c.ack(named, ['shop.default']);
    await c.none(200);
    h.registry.upsert(instance('later', 9401));
    await c.none(200); // not subscribed: no wildcard any more
    c.ack(all, []); // an empty list now is nothing, not everything
    await c.none(200);
    expect(streamDump().types.cds).toMatchObject({ wildcard: false, subscriptions: [] });
  });

  it('counts only the first answer to a response: a later request repeating its nonce (a subscription change) does not rest', async () => {
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
    const r1 = await c.next();
    c.ack(r1, ['shop.default']);
    await c.none(600); // r1 answered long ago when the subscription changes
    const ackedAt = streamDump().types.eds.last_ack.at;
    c.ack(r1, ['shop.default', 'cart.default']);
    expect(names(await c.next())).toEqual(['cart.default']);
    expect(streamDump().types.eds.last_ack.at).toBe(ackedAt); // the repeat is not a new ACK
  });

  it('handles subscription changes: adds only what is new, drops what is gone, resends what returns', async () => {
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
    const r1 = await c.next();
    c.ack(r1, ['shop.default', 'cart.default']);
    const r2 = await c.next();
    expect(names(r2)).toEqual(['cart.default']);
    c.ack(r2, ['cart.default']);
    await c.none();
    h.registry.upsert(instance('shop', 9003));
    await c.none(150); // shop is no longer subscribed
    c.ack(r2, ['cart.default', 'shop.default']);
    const r3 = await pastResend(c, await c.next(), r1.resources[0]!.bytes, ['cart.default', 'shop.default']);
    expect(names(r3)).toEqual(['shop.default']);
    expect(r3.resources[0]!.message.endpoints[0].lb_endpoints).toHaveLength(3);
  });

  it('remembers subscriptions to resources that do not exist yet and serves them when they appear, CDS first', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names: ['later.default'] });
    const empty = await c.next(); // full-state types always answer the first request
    expect(empty.resources).toEqual([]);
    c.ack(empty, ['later.default']);
    c.send({ type_url: TYPE.EDS, resource_names: ['later.default'] });
    await c.none();

    h.registry.upsert(instance('later', 9201));
    const cds = await c.next();
    const eds = await c.next();
    expect([cds.type_url, eds.type_url]).toEqual([TYPE.CDS, TYPE.EDS]);
    expect(names(cds)).toEqual(['later.default']);
    expect(names(eds)).toEqual(['later.default']);
  });

  it('sends CDS before EDS in one push, and resends an unchanged CLA after its cluster changes', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS });
    const cds = await c.next();
    c.ack(cds, []);
    c.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
    const eds = await c.next();
    c.ack(eds, ['shop.default']);
    await c.none();

    // A rules change (new selector) and an endpoint change in one debounce window.
    h.setRules(ruleSnapshot([rule('inbound', 'shop', [destination({ env: 'gray' }), destination({ version: 'v1' }, { name: 'v1' })])]));
    h.registry.upsert(instance('shop', 9003));
    const a = await c.next();
    const resent = await c.next();
    expect([a.type_url, resent.type_url]).toEqual([TYPE.CDS, TYPE.EDS]);
    expect(a.resources.find((r) => r.name === 'shop.default')!.message.lb_subset_config).toEqual({
      fallback_policy: 'ANY_ENDPOINT',
      subset_selectors: [{ keys: ['env'] }, { keys: ['version'] }],
    });
    c.ack(a, []);
    const b = await pastResend(c, resent, eds.resources[0]!.bytes, ['shop.default']);
    expect(b.resources[0]!.message.endpoints[0].lb_endpoints).toHaveLength(3);
    c.ack(b, ['shop.default']);
    await c.none();

    // Only the cluster changes (its selectors, over the same keys): the CLA follows it, same bytes.
    h.setRules(ruleSnapshot([rule('inbound', 'shop', [destination({ env: 'gray', version: 'v2' })])]));
    const cluster = await c.next();
    const cla = await c.next();
    expect(cluster.type_url).toBe(TYPE.CDS);
    expect(names(cla)).toEqual(['shop.default']);
    expect(cla.type_url).toBe(TYPE.EDS);
    expect(cla.resources[0]!.bytes).toEqual(b.resources[0]!.bytes);
  });

  it('debounces a burst into one push and shares the encoded bytes between streams', async () => {
    const a = client();
    const b = client();
    for (const c of [a, b]) c.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
    const [ra, rb] = [await a.next(), await b.next()];
    a.ack(ra, ['shop.default']);
    b.ack(rb, ['shop.default']);
    const encode = jest.spyOn(resources, 'assignmentSteps');
    for (let port = 9010; port < 9030; port++) h.registry.upsert(instance('shop', port)); // 20 notifications
    const [ua, ub] = [await a.next(), await b.next()];
    expect(ua.resources[0]!.message.endpoints[0].lb_endpoints).toHaveLength(22);
    expect(ua.resources[0]!.bytes).toEqual(ub.resources[0]!.bytes);
    // One rebuild, one encoding of the CLA, for both streams.
    expect(encode).toHaveBeenCalledTimes(1);
    encode.mockRestore();
    await a.none();
    await b.none(0);
  });

  it('serves the Listener and RouteConfiguration a proxyless client asks for; a wildcard LDS gets none', async () => {
    const c = client();
    c.send({ type_url: TYPE.LDS });
    const wildcard = await c.next();
    expect(wildcard.resources).toEqual([]);

    const p = client();
    p.send({ type_url: TYPE.LDS, resource_names: ['shop.default'] });
    const lds = await p.next();
    expect(names(lds)).toEqual(['shop.default']);
    expect(lds.resources[0]!.message.api_listener.api_listener.type_url).toContain('HttpConnectionManager');
    p.send({ type_url: TYPE.RDS, resource_names: ['shop.default'] });
    const rds = await p.next();
    expect(rds.resources[0]!.message.virtual_hosts[0].routes[0].route.cluster).toBe('shop.default');
  });
});

describe('standalone CDS and EDS services', () => {
  it('stream one type each, defaulting an empty type URL', async () => {
    const cds = client('sotw', 'cds');
    cds.send({ resource_names: [] });
    expect(names(await cds.next())).toEqual(['cart.default', 'shop.default']);
    const eds = client('sotw', 'eds');
    eds.send({ type_url: TYPE.EDS, resource_names: ['cart.default'] });
    expect(names(await eds.next())).toEqual(['cart.default']);
    const delta = client('delta', 'eds');
    delta.send({ type_url: TYPE.EDS, resource_names_subscribe: ['shop.default'] });
    expect(names(await delta.next())).toEqual(['shop.default']);
  });

  it('answers Fetch with the current resources', async () => {
    const root = envoyRoot();
    const Req = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    const Res = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    const raw = new grpc.Client(`127.0.0.1:${h.port}`, grpc.credentials.createInsecure());
    try {
      const fetch = (path: string, request: object): Promise<{ resources: unknown[]; version_info: string }> =>
        new Promise((resolve, reject) =>
          raw.makeUnaryRequest(path, (m: object) => Buffer.from(Req.encode(Req.fromObject(m)).finish()), (b: Buffer) => Res.decode(b) as never, request, (err, res) =>
            err ? reject(err) : resolve(res as never),
          ),
        );
      expect((await fetch('/envoy.service.cluster.v3.ClusterDiscoveryService/FetchClusters', {})).resources).toHaveLength(2);
      expect((await fetch('/envoy.service.endpoint.v3.EndpointDiscoveryService/FetchEndpoints', { resource_names: ['shop.default', 'nope'] })).resources).toHaveLength(1);
    } finally {
      raw.close();
    }
  });
});
