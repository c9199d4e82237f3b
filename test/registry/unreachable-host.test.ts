import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config';
import { parseInstance } from '../../src/registry/instance-input';
import { EmbeddedStore } from '../../src/store/embedded';
import { api, startApp } from '../support/app';

const hostErrors = (host: string): string[] => {
  const parsed = parseInstance({ service: 'shop', host, port: 80, id: 'pod-1' }, { ttlSeconds: 30 });
  return parsed.ok ? [] : parsed.errors;
};
const UNSPECIFIED = 'an unspecified address (a proxy connecting to it reaches only its own host)';
const MULTICAST = 'a multicast address (no TCP connection reaches it)';
const BROADCAST = 'the broadcast address (no TCP connection reaches it)';
const refusal = (host: string, kind: string) => `host: ${JSON.stringify(host)} is ${kind}; give the instance's reachable address (127.0.0.1 for one on the proxy's host)`;

describe('a registration at an address that is no instance\'s', () => {
  it.each([
    ['0.0.0.0', UNSPECIFIED],
    ['::', UNSPECIFIED],
    ['::ffff:0.0.0.0', UNSPECIFIED],
    ['0:0:0:0:0:0:0:0', UNSPECIFIED],
    ['::%eth0', UNSPECIFIED],
    ['::ffff:0.0.0.0%eth0', UNSPECIFIED],
    ['::0.0.0.0%eth0', UNSPECIFIED],
    ['224.0.0.1', MULTICAST],
    ['239.255.255.250', MULTICAST],
    ['::ffff:224.0.0.251', MULTICAST],
    ['::ffff:224.0.0.1%eth0', MULTICAST],
    ['::ffff:e000:1%eth0', MULTICAST],
    ['ff02::1', MULTICAST],
    ['FF05::1:3', MULTICAST],
    ['ff02::1%eth0', MULTICAST],
    ['255.255.255.255', BROADCAST],
    ['::ffff:255.255.255.255%1', BROADCAST],
  ])('%s is refused as %s, naming the field', (host, kind) => {
    expect(hostErrors(host)).toEqual([refusal(host, kind)]);
  });

  it.each(['10.0.0.1', '1.0.0.0', '223.255.255.255', '240.0.0.1', '255.255.255.254', '::1', 'ff::1', 'fe80::1%eth0', 'fd00::5'])('%s, beside them, is taken', (host) => {
    expect(hostErrors(host)).toEqual([]);
  });

  it('stops the start as a configured instance', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-unreachable-')), 'metaroute.yaml');
    fs.writeFileSync(file, 'registry:\n  instances:\n    - { service: shop, host: 0.0.0.0, port: 80 }\n');
    expect(() => loadConfig(file, {})).toThrow(ConfigError);
    expect(() => loadConfig(file, {})).toThrow(`registry.instances[0].${refusal('0.0.0.0', UNSPECIFIED)}`);
  });

  it('is answered 400 by the API, and stored ones are left out at start: ephemeral deleted, persistent kept and logged', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-unreachable-'));
    // Written by an older metaroute, which took them.
    const store = await EmbeddedStore.open(dataDir);
    await store.put('instances/default/shop/bound-any', JSON.stringify({ host: '0.0.0.0', port: 80, ttlSeconds: 30 }));
    await store.put('instances/default/shop/multicast', JSON.stringify({ host: 'ff02::1', port: 80, ephemeral: false, ttlSeconds: 30 }));
    await store.put('instances/default/shop/good', JSON.stringify({ host: '10.0.0.1', port: 80, ephemeral: false, ttlSeconds: 30 }));
    await store.close();

    const env = await startApp({ dataDir });
    try {
      const events = env.logs.map((l) => JSON.parse(l) as { event?: string; key?: string; errors?: string[] });
      expect(events.filter((e) => e.event === 'instance.refused').map((e) => [e.key, e.errors]).sort()).toEqual([
        ['instances/default/shop/bound-any', [`instances/default/shop/bound-any.${refusal('0.0.0.0', UNSPECIFIED)}`]],
        ['instances/default/shop/multicast', [`instances/default/shop/multicast.${refusal('ff02::1', MULTICAST)}`]],
      ]);
      expect(events.filter((e) => e.event === 'instance.dropped').map((e) => e.key)).toEqual(['instances/default/shop/bound-any']);
      expect(((await api(env.admin, 'GET', '/v1/instances?service=shop')).json.instances as { id: string }[]).map((i) => i.id)).toEqual(['good']);

      const answer = await api(env.admin, 'POST', '/v1/instances', { service: 'shop', host: '0.0.0.0', port: 81 });
      expect([answer.status, answer.json.details]).toEqual([400, [refusal('0.0.0.0', UNSPECIFIED)]]);
    } finally {
      await env.app.stop();
    }
    const reopened = await EmbeddedStore.open(dataDir);
    try {
      expect((await reopened.list('instances/')).entries.map((e) => e.key).sort()).toEqual(['instances/default/shop/good', 'instances/default/shop/multicast']);
    } finally {
      await reopened.close();
    }
  });
});
