import * as path from 'node:path';
import { api } from '../support/app';
import { ENVOY, waitFor } from '../support/envoy';
import { describeWith } from '../support/requires';
import { Gateway, type GatewayRequest } from './gateway-harness';

/**
 * A custom router module (docs/ROUTERS.md, "Custom routers") loaded from the server config,
 * through a real Envoy running the shipped envoy/gateway.yaml: its own pick of one instance
 * reaches exactly that instance on an endpoint-mode service (on a subset-mode one Envoy ignores
 * it, as explain says), and its mistakes fail the request with an error naming the router, in
 * Envoy's log and in explain.
 */

const MODULE = path.join(__dirname, '..', 'routing', 'fixtures', 'slot-pick-router.js');

// Endpoint mode (override_host): Envoy honours an explicit endpoint list only on such a cluster.
const RULES = `
metadataRoutes:
  - service: shop
    keys: [user]
    mode: endpoint
    failover: all
`;

describeWith(ENVOY, 'a custom router through real Envoy', () => {
  let gw: Gateway;
  const shop = (headers: Record<string, string>): GatewayRequest => ({ path: '/', cluster: 'shop.default', headers });

  beforeAll(async () => {
    gw = await Gateway.start({ routers: [{ module: MODULE }] });
    for (const id of ['s0', 's1', 's2']) await gw.backend(id, 'shop');
    await gw.rules(RULES);
    // Until Envoy has shop.default as an override_host cluster, a pick is not honoured.
    await gw.untilEnvoyCluster('shop.default', 3, 'override_host');
    for (const slot of ['0', '1', '2']) await gw.until(shop({ 'x-act': 'pick', 'x-slot': slot }), ['s0', 's1', 's2']);
  }, 120_000);

  afterAll(async () => {
    await gw?.stop();
  });

  test("the router's own pick of one instance ({ instances }) is where Envoy sends the request", async () => {
    const reached = new Set<string>();
    for (const slot of ['0', '1', '2']) {
      const first = await gw.expectRoute(shop({ 'x-act': 'pick', 'x-slot': slot }), { ids: ['s0', 's1', 's2'] });
      for (let i = 0; i < 5; i++) await gw.expectRoute(shop({ 'x-act': 'pick', 'x-slot': slot }), { ids: [first.backend!.id] });
      reached.add(first.backend!.id);
    }
    expect(reached.size).toBe(3);
  });

  test("a route() that throws fails the request (the gateway fails closed) naming the router, in Envoy's log and in explain", async () => {
    expect((await gw.send(shop({ 'x-act': 'throw' }))).status).toBe(500);
    const explained = await api(gw.admin, 'POST', '/explain', { cluster: 'shop.default', headers: { 'x-act': 'throw' } });
    expect({ status: explained.status, error: explained.json?.error }).toEqual({ status: 500, error: 'router slot-pick: route() threw: no slot table' });
    const logged = 'metaroute failed this request: router slot-pick: route() threw: no slot table';
    await waitFor("Envoy's log of the failed ext_proc stream", () => (decodeURIComponent(gw.envoy.logs.join('')).includes(logged) ? true : undefined), 5000);
  });

  test('a reject without a status is an error naming the field, never a 200 from Envoy', async () => {
    expect((await gw.send(shop({ 'x-act': 'reject-without-status' }))).status).toBe(500);
    const explained = await api(gw.admin, 'POST', '/explain', { cluster: 'shop.default', headers: { 'x-act': 'reject-without-status' } });
    expect(explained.json?.error).toBe('router slot-pick: route() returned a final result whose decision.status is not an HTTP status (200-599)');
  });

  // Last: it takes shop out of endpoint mode.
  test('on a subset-mode cluster Envoy ignores the pick, as explain says (endpointsIgnored)', async () => {
    const pick = shop({ 'x-act': 'pick', 'x-slot': '0' });
    await gw.rules('rules: []\n');
    await waitFor('Envoy to spread the picks of one slot (no override_host)', async () => ((await gw.answered(pick, 9)).length > 1 ? true : undefined), 30_000);
    const explained = await gw.explain(pick);
    expect({ decision: explained.decision.kind, endpointsIgnored: explained.endpointsIgnored }).toEqual({ decision: 'endpoints', endpointsIgnored: expect.stringContaining('shop.default is in subset mode') });
  });
});
