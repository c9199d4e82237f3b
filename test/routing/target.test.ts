import { lookupHost } from '../../src/routing/target';
import { Registry } from '../../src/registry/registry';
import { parseInstance } from '../../src/registry/instance-input';

function registryWith(...entries: Array<{ service: string; namespace?: string }>): Registry {
  const registry = new Registry();
  entries.forEach((entry, i) => {
    const parsed = parseInstance({ ...entry, host: '10.0.0.1', port: 1000 + i, ephemeral: false }, { ttlSeconds: 30 });
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    registry.upsert(parsed.instance);
  });
  return registry;
}

describe('the service a host names', () => {
  const registry = registryWith({ service: 'shop' }, { service: 'com.example.cart' }, { service: 'pay', namespace: 'prod' }).snapshot();
  const serviceOf = (host: string) => lookupHost(host, registry)?.key;

  it('is the cluster it names, a bare service in the default namespace (dots and all), or a Kubernetes host', () => {
    expect(serviceOf('shop.default')).toBe(lookupHost('shop', registry)?.key);
    expect(serviceOf('pay.prod')).toBeDefined();
    expect(serviceOf('com.example.cart')).toBe(serviceOf('com.example.cart.default'));
    expect(serviceOf('com.example.cart')).toBeDefined();
    expect(serviceOf('shop.default.svc.cluster.local')).toBe(serviceOf('shop.default'));
    expect(serviceOf('pay.prod.svc.cluster.local')).toBe(serviceOf('pay.prod'));
  });

  it('is none for a host that names nothing registered', () => {
    for (const host of ['', 'pay', 'cart', 'example.cart', 'nowhere.default']) expect({ host, service: serviceOf(host) }).toEqual({ host, service: undefined });
  });
});
