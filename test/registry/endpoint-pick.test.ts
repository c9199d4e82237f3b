import type { Instance } from '../../src/model/instance';
import { Registry } from '../../src/registry/registry';
import { allEndpoints, healthyEndpoints, pickEndpoint } from '../../src/registry/service-view';

const at = (port: number, weight: number): Instance => ({
  id: `i${port}`, service: 'aigc', namespace: 'default', host: '10.0.0.1', port, weight, metadata: { user: 'b' }, locality: {}, healthy: true, ephemeral: false, ttlSeconds: 10,
});

/** How often each endpoint is picked first over `n` picks. */
function picks(list: readonly string[], n: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const picked = list[pickEndpoint(list)]!;
    counts[picked] = (counts[picked] ?? 0) + 1;
  }
  return counts;
}

test("the endpoint that serves a request is picked in proportion to the instances' weights", () => {
  const registry = new Registry();
  for (const [port, weight] of [[1, 100], [2, 300], [3, 0]] as const) registry.upsert(at(port, weight));
  const list = healthyEndpoints(registry.snapshot().services.get('default/aigc')!.all);
  expect(list).not.toContain('10.0.0.1:3'); // weight 0: takes no traffic (DRAINING in xDS)
  const counts = picks(list, 20_000);
  // 1 : 3, give or take 0.05 (the standard deviation of the share is about 0.003 here)
  expect(counts['10.0.0.1:1']! / 20_000).toBeGreaterThan(0.2);
  expect(counts['10.0.0.1:1']! / 20_000).toBeLessThan(0.3);
  // The recover router's last resort lists every instance: with all weights 0, spread evenly.
  const zero = new Registry();
  for (const port of [1, 2]) zero.upsert(at(port, 0));
  expect(Object.keys(picks(allEndpoints(zero.snapshot().services.get('default/aigc')!.all), 200)).sort()).toEqual(['10.0.0.1:1', '10.0.0.1:2']);
});
