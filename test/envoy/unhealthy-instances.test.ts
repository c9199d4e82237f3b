import { api } from '../support/app';
import { ENVOY, waitFor } from '../support/envoy';
import { describeWith } from '../support/requires';
import { Gateway, type GatewayRequest } from './gateway-harness';

/**
 * Instances registered unhealthy or with weight 0 take no traffic in routing (explain): Envoy
 * must agree while any instance of the choice serves, however few. Envoy's default 50%
 * healthy panic threshold sent them most of the requests once fewer than half served.
 */

const shop = (headers: Record<string, string> = {}): GatewayRequest => ({ path: '/', cluster: 'shop.default', headers });

const RULES = `
rules:
  - name: v1-first
    service: shop
    sources: [{ arguments: [{ type: header, key: x-v1, match: { value: '1' } }] }]
    destinations: [{ name: v1, labels: { version: v1 } }]
    failover: v1
`;

describeWith(ENVOY, 'unhealthy and weight-0 instances through real Envoy', () => {
  let gw: Gateway;


  beforeAll(async () => {
    gw = await Gateway.start();
    await gw.backend('ok', 'shop', { version: 'v1' });
    await gw.backend('down-1', 'shop', { version: 'v1' }, { healthy: false });
    await gw.backend('down-2', 'shop', { version: 'v1' }, { healthy: false });
    const drained = await gw.backend('drained', 'shop', { version: 'v1' });
    const res = await api(gw.admin, 'POST', '/v1/instances', { service: 'shop', host: '127.0.0.1', port: drained.port, metadata: { version: 'v1' }, weight: 0, ephemeral: false });
    expect(res.status).toBeLessThan(300);
    await gw.rules(RULES);
    await gw.until(shop({ 'x-v1': '1' }), ['ok']);
    await gw.untilEnvoyCluster('shop.default', 1, 'lb_subset_config');
  }, 120_000);

  /** Waits until Envoy's EDS gives the endpoint at `port` these envoy.lb labels. */
  async function untilEnvoyLabels(port: number, labels: Record<string, string>): Promise<void> {
    await waitFor(`Envoy's endpoint ${port} to have ${JSON.stringify(labels)}`, async () => {
      const dump = JSON.parse((await gw.envoy.admin('/config_dump?include_eds')).text) as { configs: Array<{ dynamic_endpoint_configs?: Array<{ endpoint_config: any }> }> };
      const cla = dump.configs.flatMap((c) => c.dynamic_endpoint_configs ?? []).find((c) => c.endpoint_config.cluster_name === 'shop.default')?.endpoint_config;
      const endpoint = cla?.endpoints.flatMap((g: any) => g.lb_endpoints).find((e: any) => e.endpoint.address.socket_address.port_value === port);
      const lb = endpoint?.metadata?.filter_metadata?.['envoy.lb'] ?? {};
      return Object.entries(labels).every(([k, v]) => lb[k] === v) ? true : undefined;
    });
  }

  afterAll(async () => {
    await gw?.stop();
  });

  test('one healthy instance of four takes every request of the whole service (a pass)', async () => {
    expect(await gw.answered(shop(), 40)).toEqual(['ok']);
  });

  test('one healthy instance of four takes every request of a subset', async () => {
    expect(await gw.answered(shop({ 'x-v1': '1' }), 40)).toEqual(['ok']);
  });

  test('zero-protect still lets Envoy spread a subset without any healthy instance over all of it', async () => {
    const res = await api(gw.admin, 'POST', '/v1/instances', { service: 'shop', host: '127.0.0.1', port: gw.backendById('ok').port, metadata: { version: 'v2' }, ephemeral: false });
    expect(res.status).toBeLessThan(300);
    await gw.routerConfig('recover', { mode: 'zero-protect' });
    await untilEnvoyLabels(gw.backendById('ok').port, { version: 'v2' });
    const ids = new Set<string>();
    for (let i = 0; i < 60; i++) ids.add((await gw.expectRoute(shop({ 'x-v1': '1' }), {})).backend?.id ?? 'none');
    // Spread over the v1 subset, its two unhealthy instances each taking requests. Envoy leaves
    // the DRAINING host (weight 0) out of panic, but not always: it sent it 1 request of the 60
    // in 3 of 6 runs (at any point of the 60, Envoy 1.40), so it may appear and is not pinned.
    expect([...ids].filter((id) => id !== 'drained').sort()).toEqual(['down-1', 'down-2']);
  });
});
