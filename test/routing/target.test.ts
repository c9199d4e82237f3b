import { EXT_PROC_ATTRIBUTES, NO_CALLER, RequestContext } from '../../src/context/request-context';
import { DEFAULTS } from '../../src/config/config';
import { lookupHost, resolveTarget } from '../../src/routing/target';
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

describe('the callee of a request', () => {
  const registry = registryWith({ service: 'shop' }, { service: 'cart' }).snapshot();
  const callee = (headers: Record<string, string>, routedCluster?: string) => {
    const list = { names: Object.keys(headers), values: Object.values(headers), bytes: 0, oversized: false };
    const attributes: Record<string, Record<string, unknown>> = routedCluster === undefined ? {} : { [EXT_PROC_ATTRIBUTES]: { 'xds.cluster_name': routedCluster } };
    const ctx = new RequestContext(list, NO_CALLER, DEFAULTS.extProc.identity, { filterMetadata: () => ({}), attributes: () => attributes });
    return resolveTarget(ctx, registry)?.key;
  };

  it('is the cluster Envoy routed to, whatever a copied x-metaroute-service or the Host say', () => {
    expect(callee({ ':authority': 'cart.default', 'x-metaroute-service': 'cart' }, 'shop.default')).toBe('default/shop');
  });

  it('without a routed cluster, is x-metaroute-service (an empty one is none), else the Host', () => {
    expect(callee({ ':authority': 'cart.default', 'x-metaroute-service': 'shop' })).toBe('default/shop');
    expect(callee({ ':authority': 'cart.default', 'x-metaroute-service': '' })).toBe('default/cart');
    expect(callee({ ':authority': 'cart.default' })).toBe('default/cart');
  });
});
