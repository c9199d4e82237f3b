import * as grpc from '@grpc/grpc-js';
import { TYPE, XdsTestClient, eventually, instance, names, startXds, type Dump, type Harness } from './helpers';

let h: Harness;
const clients: XdsTestClient[] = [];

function client(protocol: 'sotw' | 'delta' = 'sotw', path: 'ads' | 'eds' = 'ads'): XdsTestClient {
  const c = new XdsTestClient(h.port, protocol, path);
  clients.push(c);
  return c;
}

/** A well-behaved client subscribed to shop's CLA, to show that others are not disturbed. */
async function bystander(): Promise<XdsTestClient> {
  const c = client();
  c.send({ type_url: TYPE.EDS, resource_names: ['shop.default'] });
  c.ack(await c.next(), ['shop.default']);
  return c;
}

async function stillServed(c: XdsTestClient, port: number): Promise<void> {
  h.registry.upsert(instance('shop', port));
  const update = await c.next(1000);
  expect(names(update)).toEqual(['shop.default']);
  c.ack(update, ['shop.default']);
}

beforeEach(async () => {
  h = await startXds();
  h.registry.upsert(instance('shop', 9001));
  await new Promise((r) => setTimeout(r, 30));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await h.close();
});

describe('bad input', () => {
  it('ignores (and logs once) an unknown type URL, and the same stream keeps working', async () => {
    const ok = await bystander();
    const c = client();
    const secret = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
    c.send({ type_url: secret, resource_names: ['tls'] });
    c.send({ type_url: secret, resource_names: ['tls', 'more'] });
    c.send({ type_url: '', resource_names: ['x'] });
    await c.none();
    expect(h.logs.filter((l) => l.includes('envoy.extensions.transport_sockets.tls.v3.Secret'))).toHaveLength(1);
    c.send({ type_url: TYPE.CDS });
    expect(names(await c.next())).toEqual(['shop.default']);
    expect((h.xds.configDump() as Dump).streams[1].unknown_type_urls).toEqual([secret, '']);
    await stillServed(ok, 9002);

    // A standalone EDS stream serves EDS only.
    const eds = client('sotw', 'eds');
    eds.send({ type_url: TYPE.CDS });
    await eds.none();
  });

  it('treats garbage resource names as subscriptions to resources that do not exist', async () => {
    const ok = await bystander();
    const garbage = ['', '\u0000\u0001', 'x'.repeat(50_000), '../../etc/passwd', '*', 'shop.default\n', ...Array.from({ length: 5000 }, (_, i) => `junk-${i}`)];
    const c = client();
    c.send({ type_url: TYPE.EDS, resource_names: [...garbage, 'shop.default'] });
    const r = await c.next();
    expect(names(r)).toEqual(['shop.default']);
    c.ack(r, [...garbage, 'shop.default']);
    await c.none();
    const d = client('delta');
    d.send({ type_url: TYPE.CDS, resource_names_subscribe: garbage, resource_names_unsubscribe: ['never-subscribed', ''] });
    expect(names(await d.next())).toEqual(['shop.default']); // "*" is among the garbage: a wildcard
    await stillServed(ok, 9002);
  });

  it('ends only the stream that sends an undecodable request', async () => {
    const ok = await bystander();
    const c = client();
    c.sendRaw(Buffer.from([0x07, 0x01])); // wire type 7 does not exist
    await eventually(() => c.status !== undefined, 2000, 'bad stream ended');
    expect(c.status!.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(h.logs.some((l) => l.includes('xds.request.bad'))).toBe(true);
    await eventually(() => (h.xds.configDump() as Dump).streams.length === 1, 2000, 'stream dropped');
    await stillServed(ok, 9002);
  });

  it('does not let a client that stops ACKing and reading disturb other streams or grow memory', async () => {
    // A CLA of ~250 KB, so a stalled reader fills the HTTP/2 windows after a few pushes.
    h.registry.batch(() => {
      for (let i = 0; i < 2500; i++) {
        h.registry.upsert(instance('bulk', 10_000 + i, { host: `10.0.${i >> 8}.${i & 255}`, metadata: { env: `e${i % 7}`, version: `v${i % 3}`, zone: `zone-${i % 5}` } }));
      }
    });
    const ok = client();
    ok.send({ type_url: TYPE.EDS, resource_names: ['bulk.default'] });
    ok.ack(await ok.next(), ['bulk.default']);

    const stuck = client();
    stuck.call.pause(); // stops reading: HTTP/2 flow control pushes back on the server
    stuck.send({ type_url: TYPE.EDS, resource_names: ['bulk.default'] });
    await eventually(() => (h.xds.configDump() as Dump).streams.length === 2, 2000, 'stuck stream open');

    // Each update reaches the reading client: a stream blocked behind the stuck one would get none
    // (a bound generous enough for a loaded CI machine; speed is the benches' business).
    for (let round = 0; round < 35; round++) {
      h.registry.upsert(instance('bulk', 10_000, { host: '10.0.0.0', weight: 100 + round + 1 }));
      const update = await ok.next(5000);
      ok.ack(update, ['bulk.default']);
    }
    const stuckDump = (h.xds.configDump() as Dump).streams.find((s: Dump) => s.id !== (h.xds.configDump() as Dump).streams[0].id);
    // Its first response is still not ACKed: it got no other. Pushes are coalesced, not queued.
    expect(stuckDump.responses_sent).toBe(1);
    expect(stuckDump.types.eds.awaiting_ack).toBe(stuckDump.types.eds.last_nonce);

    // When it reads and ACKs again, its next response is the latest version (after a rest as long as it took to answer, up to 5 s).
    stuck.call.resume();
    const weightOfFirst = (r: { resources: { message: Dump }[] }): number | undefined =>
      r.resources[0]?.message.endpoints.flatMap((l: Dump) => l.lb_endpoints).find((e: Dump) => e.endpoint.address.socket_address.address === '10.0.0.0')
        ?.load_balancing_weight.value;
    const first = await stuck.next(3000);
    expect(weightOfFirst(first)).not.toBe(135);
    stuck.ack(first, ['bulk.default']);
    expect(weightOfFirst(await stuck.next(8000))).toBe(135);
  });
});
