import { TYPE, XdsTestClient, destination, eventually, instance, metadataRoute, names, rule, ruleSnapshot, startXds, type Dump, type Harness, type Response } from './helpers';

let h: Harness;
const clients: XdsTestClient[] = [];

function client(): XdsTestClient {
  const c = new XdsTestClient(h.port, 'delta');
  clients.push(c);
  return c;
}

function ack(c: XdsTestClient, r: Response): void {
  c.send({ type_url: r.type_url, response_nonce: r.nonce });
}

beforeEach(async () => {
  h = await startXds();
  h.registry.upsert(instance('shop', 9001, { metadata: { env: 'prod' } }));
  h.registry.upsert(instance('cart', 9101));
  await new Promise((r) => setTimeout(r, 30));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await h.close();
});

describe('Delta ADS', () => {
  it('subscribes, sends only changes with per-resource versions, and is silent on ACK', async () => {
    const c = client();
    c.send({ node: { id: 'd1' }, type_url: TYPE.CDS }); // no names on the first CDS request: wildcard
    const cds = await c.next();
    expect(names(cds)).toEqual(['cart.default', 'shop.default']);
    expect(cds.resources.every((r) => r.version && r.version.length > 0)).toBe(true);
    ack(c, cds);

    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['shop.default'] });
    const eds = await c.next();
    expect(names(eds)).toEqual(['shop.default']);
    ack(c, eds);
    await c.none();

    h.registry.upsert(instance('cart', 9102)); // not subscribed over EDS; the cart cluster is unchanged
    await c.none(150);
    h.registry.upsert(instance('shop', 9002));
    const update = await c.next();
    expect(update.type_url).toBe(TYPE.EDS);
    expect(names(update)).toEqual(['shop.default']);
    expect(update.resources[0]!.version).not.toBe(eds.resources[0]!.version);
    expect(update.removed_resources).toEqual([]);
    ack(c, update);
    await c.none();
    expect((h.xds.configDump() as Dump).streams[0].types.eds.last_ack.nonce).toBe(update.nonce);
  });

  it('holds a subscription made while a response is in flight until that response is answered, a NACK as well as an ACK', async () => {
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['shop.default'] });
    const first = await c.next();
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['cart.default'] }); // no nonce: only a subscription
    await c.none(200);
    c.send({ type_url: TYPE.EDS, response_nonce: first.nonce, error_detail: { code: 3, message: 'rejected' } });
    const second = await c.next();
    expect(names(second)).toEqual(['cart.default']);
    expect((h.xds.configDump() as Dump).streams[0].types.eds.nack.nonce).toBe(first.nonce);
  });

  it('answers EDS while a CDS response waits for its answer: Envoy warming a new cluster answers CDS only once it has the CLA', async () => {
    const c = client();
    c.send({ node: { id: 'd1' }, type_url: TYPE.CDS });
    ack(c, await c.next());
    h.registry.upsert(instance('new', 9201));
    const added = await c.next(); // Envoy warms new.default and pauses CDS: no ACK until its CLA came
    expect(names(added)).toEqual(['new.default']);
    h.registry.upsert(instance('more', 9301)); // a second cluster change, held until that ACK
    await c.none(100);
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['new.default'] });
    const eds = await c.next(1000);
    expect([eds.type_url, names(eds)]).toEqual([TYPE.EDS, ['new.default']]);
    ack(c, eds);
    ack(c, added);
    expect(names(await c.next())).toEqual(['more.default']);
  });

  it('settles the response a nonce names even when the request carrying it is of another type', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS });
    const cds = await c.next();
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['shop.default'], response_nonce: cds.nonce }); // a client mixing up its types
    expect(names(await c.next())).toEqual(['shop.default']);
    const types = (h.xds.configDump() as Dump).streams[0].types;
    expect(types.cds).toMatchObject({ awaiting_ack: null, last_ack: { nonce: cds.nonce } });
    h.setRules(ruleSnapshot([rule('inbound', 'shop', [destination({ env: 'gray' })])])); // a cluster change still goes out
    expect((await c.next()).type_url).toBe(TYPE.CDS);
  });

  it('adds and drops subscriptions, and resends a resource subscribed again', async () => {
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['shop.default'] });
    const first = await c.next();
    ack(c, first);
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['cart.default'], resource_names_unsubscribe: ['shop.default'] });
    const cart = await c.next();
    expect(names(cart)).toEqual(['cart.default']);
    expect(cart.removed_resources).toEqual([]);
    ack(c, cart);
    h.registry.upsert(instance('shop', 9002));
    await c.none(150);
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['cart.default'] }); // already held: still resent
    expect(names(await c.next())).toEqual(['cart.default']);
  });

  it('reports removed resources: a rule-only service that goes away with its CLA; an endpoint-mode switch changes the Cluster', async () => {
    h.setRules(ruleSnapshot([rule('inbound', 'planned', [destination({ env: 'a' })])]));
    await eventually(() => (h.xds.configDump() as Dump).types.cds.resources.length === 3, 2000, 'rules applied');
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names_subscribe: ['*'] });
    const cds = await c.next();
    expect(names(cds)).toEqual(['cart.default', 'planned.default', 'shop.default']);
    ack(c, cds);
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['planned.default', 'shop.default'] });
    // Cold code (this test alone) may build shop's CLA past the first response's slice: then it comes in a second.
    const seen = new Map<string, { message: { endpoints?: unknown } }>();
    while (seen.size < 2) {
      const eds = await c.next();
      for (const r of eds.resources) seen.set(r.name!, r);
      ack(c, eds);
    }
    expect([...seen.keys()].sort()).toEqual(['planned.default', 'shop.default']);
    expect(seen.get('planned.default')!.message.endpoints).toBeUndefined();

    h.setRules(ruleSnapshot([], [metadataRoute('shop', ['user'], { mode: 'endpoint' })]));
    const cdsChange = await c.next();
    const edsChange = await c.next();
    expect(cdsChange.type_url).toBe(TYPE.CDS);
    expect(cdsChange.removed_resources).toEqual(['planned.default']);
    expect(names(cdsChange)).toEqual(['shop.default']);
    expect(cdsChange.resources[0]!.message.load_balancing_policy.policies[0].typed_extension_config.name).toBe('envoy.load_balancing_policies.override_host');
    expect(edsChange.type_url).toBe(TYPE.EDS);
    expect(names(edsChange)).toEqual(['shop.default']); // resent after its Cluster changed
    expect(edsChange.removed_resources).toEqual(['planned.default']);
  });

  it('skips resources a reconnecting client already holds (initial_resource_versions)', async () => {
    const c1 = client();
    c1.send({ type_url: TYPE.EDS, resource_names_subscribe: ['shop.default', 'cart.default'] });
    // A busy machine may answer the two in separate responses (each one's build in its own slices).
    let shopVersion: string | undefined;
    for (let seen = new Set<string>(); seen.size < 2; ) {
      const held = await c1.next();
      for (const r of held.resources) seen.add(r.name!);
      shopVersion ??= held.resources.find((r) => r.name === 'shop.default')?.version ?? undefined;
      ack(c1, held);
    }
    c1.close();

    const c2 = client();
    c2.send({
      type_url: TYPE.EDS,
      resource_names_subscribe: ['shop.default', 'cart.default'],
      initial_resource_versions: { 'shop.default': shopVersion!, 'cart.default': 'stale' },
    });
    expect(names(await c2.next())).toEqual(['cart.default']);
  });

  it('holds a NACKed resource version and sends its next change', async () => {
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names_subscribe: ['shop.default'] });
    ack(c, await c.next());
    h.registry.upsert(instance('shop', 9002));
    const bad = await c.next();
    c.send({ type_url: TYPE.EDS, response_nonce: bad.nonce, error_detail: { code: 3, message: 'nope' } });
    await c.none(300);
    expect(h.metrics.render()).toMatch(/metaroute_xds_nacks_total\{type="eds"\} 1/);
    const nack = (h.xds.configDump() as Dump).streams[0].types.eds.nack;
    expect(nack).toMatchObject({ nonce: bad.nonce, error: { message: 'nope' }, resources: { 'shop.default': bad.resources[0]!.version } });

    h.registry.upsert(instance('shop', 9003));
    const next = await c.next();
    expect(names(next)).toEqual(['shop.default']);
    ack(c, next);
    await eventually(() => (h.xds.configDump() as Dump).streams[0].types.eds.nack === null, 2000, 'NACK cleared');
  });

  it('resends what only the wildcard served when "*" is unsubscribed and subscribed again while a response was unanswered', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names_subscribe: ['*', 'shop.default'] });
    ack(c, await c.next());
    h.registry.upsert(instance('later', 9401));
    const added = await c.next();
    expect(names(added)).toEqual(['later.default']);
    c.send({ type_url: TYPE.CDS, resource_names_unsubscribe: ['*'] }); // no nonce: only subscriptions
    c.send({ type_url: TYPE.CDS, resource_names_subscribe: ['*'] });
    await c.none(200);
    ack(c, added);
    expect(names(await c.next())).toEqual(['cart.default', 'later.default']); // shop stayed subscribed by name
  });

  it('leaves an explicit wildcard when "*" is unsubscribed, keeping named resources', async () => {
    const c = client();
    c.send({ type_url: TYPE.CDS, resource_names_subscribe: ['*', 'shop.default'] });
    ack(c, await c.next());
    c.send({ type_url: TYPE.CDS, resource_names_unsubscribe: ['*'] });
    await c.none();
    h.registry.upsert(instance('fresh', 9301)); // would reach a wildcard subscriber
    await c.none(150);
    expect((h.xds.configDump() as Dump).streams[0].types.cds).toMatchObject({ wildcard: false, subscriptions: ['shop.default'] });
  });
});
