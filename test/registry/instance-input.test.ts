import { parseInstance } from '../../src/registry/instance-input';

const errors = (input: Record<string, unknown>): string[] => {
  const parsed = parseInstance(input, { ttlSeconds: 30 });
  return parsed.ok ? [] : parsed.errors;
};

describe('a registration', () => {
  it('needs an IP address for its host: Envoy takes endpoints by address', () => {
    for (const host of ['localhost', 'shop.internal', '127.0.0.1:99', '999.1.1.1', 'a;b$c', '']) {
      expect({ host, errors: errors({ service: 'shop', host, port: 80 }) }).toEqual({ host, errors: [`host: must be an IP address (resolve a host name before registering), got ${JSON.stringify(host)}`] });
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
    expect(errors({ service: 'coll', namespace: 'b.default', host: '10.0.0.1', port: 80 })).toEqual([
      "namespace: must be a name of letters, digits, '_', '-' (starting with a letter or digit, at most 253), no '.' (<service>.<namespace> names the cluster), got \"b.default\"",
    ]);
  });

  it('calls a field required only when it is missing; a bad value sent is named', () => {
    expect(errors({})).toEqual([
      "service: required, a name of letters, digits, '_', '.', '-' (starting with a letter or digit, at most 253)",
      'host: required, an IP address (resolve a host name before registering)',
      'port: required, an integer 1-65535',
    ]);
    expect(errors({ service: 'sh op', host: '10.0.0.1', port: 70000, weight: -1, ttlSeconds: 0, healthy: 'yes', id: 'a b' })).toEqual([
      "service: must be a name of letters, digits, '_', '.', '-' (starting with a letter or digit, at most 253), got \"sh op\"",
      'port: must be an integer 1-65535, got 70000',
      'weight: must be an integer 0-10000, got -1',
      'ttlSeconds: must be a number of seconds from 1 to 86400 (expiry runs once a second), got 0',
      'healthy: must be true or false, got "yes"',
      "id: must be an id of letters, digits, '_', '.', '-', ':' (starting with a letter, digit or ':', at most 253), got \"a b\"",
    ]);
    expect(errors({ service: null, host: ['10.0.0.1'], port: '80' })).toEqual([
      "service: must be a name of letters, digits, '_', '.', '-' (starting with a letter or digit, at most 253), got null",
      'host: must be an IP address (resolve a host name before registering), got a list',
      'port: must be an integer 1-65535, got "80"',
    ]);
    expect(errors({ service: 'shop', host: '10.0.0.1', port: 80, metadata: { tier: 1, gpu: null, big: 'x'.repeat(1025) }, locality: { zone: ['a'] } })).toEqual([
      'metadata.tier: must be a string of at most 1024 characters, got 1',
      'metadata.gpu: must be a string of at most 1024 characters, got null',
      'metadata.big: must be a string of at most 1024 characters, got 1025 characters',
      'locality.zone: must be a string of at most 1024 characters, got a list',
    ]);
    // A megabyte where a name belongs is named by its start, not echoed.
    expect(errors({ service: 'x'.repeat(1 << 20), host: '10.0.0.1', port: 80 })).toEqual([`service: must be a name of letters, digits, '_', '.', '-' (starting with a letter or digit, at most 253), got "${'x'.repeat(76)}...`]);
  });

  it('asks a TTL of at least a second, since expiry runs once a second; a stored one is read as stored', () => {
    const ttl = (ttlSeconds: unknown, minTtlSeconds?: number) => {
      const parsed = parseInstance({ service: 'shop', host: '10.0.0.1', port: 80, ttlSeconds }, { ttlSeconds: 30, minTtlSeconds });
      return parsed.ok ? parsed.instance.ttlSeconds : parsed.errors;
    };
    for (const short of [0.05, 0.999]) expect(ttl(short)).toEqual([`ttlSeconds: must be a number of seconds from 1 to 86400 (expiry runs once a second), got ${short}`]);
    expect([ttl(1), ttl(1.5), ttl(86400)]).toEqual([1, 1.5, 86400]);
    expect(ttl(0.05, 0)).toBe(0.05);
    expect(ttl(0, 0)).toEqual(['ttlSeconds: must be a number of seconds above 0, at most 86400, got 0']);
  });
});
