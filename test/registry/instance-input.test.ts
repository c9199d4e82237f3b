import { parseInstance } from '../../src/registry/instance-input';

const errors = (input: Record<string, unknown>): string[] => {
  const parsed = parseInstance(input, { ttlSeconds: 30 });
  return parsed.ok ? [] : parsed.errors;
};

describe('a registration', () => {
  it('needs an IP address for its host: Envoy takes endpoints by address', () => {
    for (const host of ['localhost', 'shop.internal', '127.0.0.1:99', '999.1.1.1', 'a;b$c', '']) {
      expect({ host, errors: errors({ service: 'shop', host, port: 80 }) }).toEqual({ host, errors: ['host: required, an IP address (resolve a host name before registering)'] });
    }
    for (const host of ['10.0.0.1', '::1', '::ffff:127.0.0.1', 'fe80::1', 'fd00::5']) expect({ host, errors: errors({ service: 'shop', host, port: 80 }) }).toEqual({ host, errors: [] });
  });

  it('defaults its id to host:port, IPv6 hosts included', () => {
    const parsed = parseInstance({ service: 'v6', host: '::1', port: 8080 }, { ttlSeconds: 30 });
    expect(parsed.ok && parsed.instance.id).toBe('::1:8080');
    // An IPv6 zone makes no id: asked for by name, not blamed on a field the client did not send wrongly.
    expect(errors({ service: 'v6', host: 'fe80::1%eth0', port: 80 })).toEqual(["id: required here: the default fe80::1%eth0:80 is no id (letters, digits, '_', '.', '-', ':')"]);
    expect(errors({ service: 'v6', host: 'fe80::1%eth0', port: 80, id: 'link-local-1' })).toEqual([]);
  });

  it('has no namespace with a dot: <service>.<namespace> names one cluster', () => {
    expect(errors({ service: 'coll.b', host: '10.0.0.1', port: 80 })).toEqual([]);
    expect(errors({ service: 'coll', namespace: 'b.default', host: '10.0.0.1', port: 80 })).toEqual(["namespace: required, letters, digits, '_', '-' (no '.': <service>.<namespace> names the cluster)"]);
  });
});
