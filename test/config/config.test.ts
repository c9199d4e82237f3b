import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, DEFAULTS, loadConfig } from '../../src/config/config';

const write = (text: string, name = 'metaroute.yaml') => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-')), name);
  fs.writeFileSync(file, text);
  return file;
};

/** The problems a refused configuration file is refused with (none if it loads). */
function problemsOf(file: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    loadConfig(file, env);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
}

test('no file gives the documented defaults', () => {
  const config = loadConfig(undefined, {});
  expect(config.ports).toEqual({ extProc: 18080, xds: 18000, admin: 18090 });
  expect(config.host).toBe('127.0.0.1');
  expect(config.rulesFile).toBeUndefined();
  expect(config.extProc.maxHeaderBytes).toBe(DEFAULTS.extProc.maxHeaderBytes);
  expect(config.drainSeconds).toBe(0);
});

test('environment variables override the file; paths resolve against the file', () => {
  const file = write('ports: { extProc: 1000, admin: 1001 }\nrulesFile: rules.yaml\n');
  fs.writeFileSync(path.join(path.dirname(file), 'rules.yaml'), 'rules: []\n');
  const config = loadConfig(file, { METAROUTE_EXTPROC_PORT: '2000', METAROUTE_DATA_DIR: '/tmp/x', METAROUTE_DRAIN_SECONDS: '5' });
  expect(config.ports).toEqual({ extProc: 2000, xds: 18000, admin: 1001 });
  expect(config.drainSeconds).toBe(5);
  // A bad value from the environment names the variable that set it.
  expect(problemsOf(file, { METAROUTE_DRAIN_SECONDS: 'soon' })).toEqual(['drainSeconds (set by METAROUTE_DRAIN_SECONDS): must be an integer from 0 to 3600, got "soon"']);
  expect(problemsOf(file, { METAROUTE_EXTPROC_PORT: ' ' })).toEqual(['ports.extProc (set by METAROUTE_EXTPROC_PORT): must be an integer from 0 to 65535, got " "']);
  // Both ports of a collision, and never a field's name quoted in a value.
  expect(problemsOf(file, { METAROUTE_EXTPROC_PORT: '1001' })).toEqual(['ports.admin: 1001 is also ports.extProc (set by METAROUTE_EXTPROC_PORT); each listener needs its own port']);
  expect(problemsOf(file, { METAROUTE_LOG_LEVEL: 'logLevel' })).toEqual(['logLevel (set by METAROUTE_LOG_LEVEL): must be one of fatal, error, warn, info, debug, trace, silent, got "logLevel"']);
  expect(config.rulesFile).toBe(path.join(path.dirname(file), 'rules.yaml'));
  expect(config.dataDir).toBe('/tmp/x');
});

test('the host to bind is an IP address (or localhost), and a rules file that cannot be read is a configuration problem', () => {
  const file = write('host: metaroute.internal\nrulesFile: missing.yaml\n');
  expect(problemsOf(file)).toEqual([
    `rulesFile: cannot read ${path.join(path.dirname(file), 'missing.yaml')}: ENOENT`,
    'host: must be an IP address to bind (or localhost), got "metaroute.internal"', // and no "beyond loopback" advice for it
  ]);
  expect(problemsOf(write('host: localhost\n'))).toEqual([]);
});

test('every bad field is named, at once', () => {
  const file = write('ports: { admin: 9901, xds: -1 }\nextProc: { maxHeaderBytes: "big", edge: { onSpoofed: maybe }, outboundRouterFailure: open, warmUpStreams: -1 }\nregistery: {}\nregistry:\n  instances:\n    - { service: shop, host: 10.0.0.1, port: 99999 }\n');
  const problems = problemsOf(file);
  expect(problems).toEqual(expect.arrayContaining([
    expect.stringMatching(/^ports\.admin: 9901 is Envoy's admin port/),
    expect.stringMatching(/^ports\.xds: must be an integer/),
    expect.stringMatching(/^extProc\.maxHeaderBytes: must be an integer/),
    expect.stringMatching(/^extProc\.edge\.onSpoofed: must be reject or strip/),
    expect.stringMatching(/^extProc\.outboundRouterFailure: must be pass or fail, got "open"/),
    expect.stringMatching(/^extProc\.warmUpStreams: must be an integer/),
    expect.stringMatching(/^registery: unknown field/),
    expect.stringMatching(/^registry\.instances\[0\]\.port: /),
  ]));
});

test('a file that cannot be read is a configuration error naming it, not a crash', () => {
  const missing = path.join(os.tmpdir(), `metaroute-no-such-config-${process.pid}.yaml`);
  expect(() => loadConfig(missing, {})).toThrow(ConfigError);
  expect(() => loadConfig(missing, {})).toThrow(`cannot read ${missing}: ENOENT`);
  expect(() => loadConfig(os.tmpdir(), {})).toThrow(`cannot read ${os.tmpdir()}: EISDIR`);
});

test('a YAML syntax error names the file and line', () => {
  const file = write('ports:\n  admin: [1\n');
  expect(() => loadConfig(file, {})).toThrow(new RegExp(`${file}:\\d+:`));
});

test('store: embedded by default; etcd from the file or METAROUTE_ETCD_ENDPOINTS; bad fields named', () => {
  expect(loadConfig(undefined, {}).store).toEqual({ kind: 'embedded' });
  const file = write('store:\n  kind: etcd\n  endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]\n  prefix: /mesh-a/\n  tls: { ca: ca.pem, cert: client.pem, key: client-key.pem }\n  auth: { username: metaroute, password: s3cret }\n  leaseSeconds: 5\n');
  expect(loadConfig(file, {}).store).toEqual({
    kind: 'etcd',
    endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
    prefix: '/mesh-a/',
    tls: { ca: path.join(path.dirname(file), 'ca.pem'), cert: path.join(path.dirname(file), 'client.pem'), key: path.join(path.dirname(file), 'client-key.pem') },
    auth: { username: 'metaroute', password: 's3cret' },
    leaseSeconds: 5,
  });
  expect(loadConfig(undefined, { METAROUTE_ETCD_ENDPOINTS: 'http://127.0.0.1:2379,http://127.0.0.1:22379' }).store).toEqual({
    kind: 'etcd', endpoints: ['http://127.0.0.1:2379', 'http://127.0.0.1:22379'], prefix: '/metaroute/', tls: undefined, auth: undefined, leaseSeconds: 10,
  });
  const bad = write('store:\n  kind: etcd\n  endpoints: [10.0.0.1:2379]\n  tls: { cert: c.pem }\n  auth: { username: "" }\n  leaseSeconds: 1\n  extra: 1\n');
  const problems = problemsOf(bad);
  expect(problems).toEqual([
    'store.extra: unknown field (expected one of kind, endpoints, prefix, tls, auth, leaseSeconds)',
    'store.endpoints: must be a non-empty list of http://host:port or https://host:port, got ["10.0.0.1:2379"]',
    "store.tls.ca: required with tls (the CA that signed etcd's certificate)",
    'store.tls: set both cert and key (mutual TLS) or neither',
    'store.auth.username: must be a non-empty string',
    'store.auth.password: must be a string',
    'store.leaseSeconds: a whole number of seconds from 2 to 300, got 1',
  ]);
  expect(() => loadConfig(write('store: { kind: consul }\n'), {})).toThrow('store.kind: must be embedded or etcd, got "consul"');
  expect(() => loadConfig(write('store: { endpoints: [http://a:1] }\n'), {})).toThrow('store.endpoints: only for kind: etcd');
});

test('a lone surrogate in the configuration is refused with its field', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-config-surrogate-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, '{"registry": {"instances": [{"service": "shop", "host": "10.0.0.1", "port": 1, "metadata": {"v": "\\ud800"}}]}}');
  expect(() => loadConfig(file, {})).toThrow('registry.instances[0].metadata.v: contains a lone UTF-16 surrogate');
  fs.writeFileSync(file, '{"extProc": {"identity": {"payloadKey": "\\udfff"}}}');
  expect(() => loadConfig(file, {})).toThrow('extProc.identity.payloadKey: contains a lone UTF-16 surrogate');
});

test('TLS and xDS client settings: files resolve against the config file and must be readable; every bad field is named', () => {
  const file = write(
    [
      'extProc: { tls: { certFile: missing.crt } }',
      'xds:',
      '  tls: { certFile: a.crt, keyFile: a.key, clientCA: x, reloadSeconds: 0 }',
      '  clients: { tokens: [{ token: short }, { tokenEnv: NOPE }], certificateNames: [envoy], required: maybe }',
      '',
    ].join('\n'),
  );
  const dir = path.dirname(file);
  const problems = problemsOf(file);
  expect(problems).toEqual([
    `extProc.tls.certFile: cannot read ${path.join(dir, 'missing.crt')}: ENOENT`,
    'extProc.tls.keyFile: required (a PEM file)',
    'xds.tls.clientCA: unknown field (expected one of certFile, keyFile, clientCaFile, reloadSeconds)',
    `xds.tls.certFile: cannot read ${path.join(dir, 'a.crt')}: ENOENT`,
    `xds.tls.keyFile: cannot read ${path.join(dir, 'a.key')}: ENOENT`,
    'xds.tls.reloadSeconds: whole seconds, 1 to 86400',
    'xds.clients.tokens[0]: the token must be a string of at least 16 characters without whitespace',
    'xds.clients.tokens[1].tokenEnv: names no set environment variable',
    'xds.clients.required: must be auto, true or false, got "maybe"',
    'xds.clients.certificateNames: needs mutual TLS (xds.tls.clientCaFile)',
  ]);
  fs.writeFileSync(path.join(dir, 'a.crt'), 'pem');
  fs.writeFileSync(path.join(dir, 'a.key'), 'pem');
  fs.writeFileSync(file, 'xds: { tls: { certFile: a.crt, keyFile: a.key, clientCaFile: a.crt }, clients: { tokens: [{ tokenEnv: XDS_TOKEN }] } }\n');
  const config = loadConfig(file, { XDS_TOKEN: 'xds-0123456789abcdef' });
  expect(config.xds.tls).toEqual({ certFile: path.join(dir, 'a.crt'), keyFile: path.join(dir, 'a.key'), clientCaFile: path.join(dir, 'a.crt'), reloadSeconds: 60 });
  expect(config.xds.clients).toEqual({ tokens: ['xds-0123456789abcdef'], certificateNames: [], required: 'auto' });
  expect(loadConfig(undefined, {}).extProc.tls).toBeUndefined();
});

test('extProc.clients.certificateNames: a list of names, only with mutual TLS on ext_proc; xds.clients checks its list the same way', () => {
  const file = write('extProc: { clients: { certificateNames: [envoy, "", 3, " gateway"], names: [x] } }\nxds: { clients: { certificateNames: envoy } }\n');
  const dir = path.dirname(file);
  const problems = problemsOf(file);
  expect(problems).toEqual([
    'extProc.clients.names: unknown field (expected one of certificateNames)',
    'extProc.clients.certificateNames[1]: must be a name (a CN, DNS name or URI without surrounding spaces), got ""',
    'extProc.clients.certificateNames[2]: must be a name (a CN, DNS name or URI without surrounding spaces), got 3',
    'extProc.clients.certificateNames[3]: must be a name (a CN, DNS name or URI without surrounding spaces), got " gateway"',
    'extProc.clients.certificateNames: needs mutual TLS (extProc.tls.clientCaFile)',
    'xds.clients.certificateNames: must be a list of names, got "envoy"',
  ]);
  fs.writeFileSync(path.join(dir, 'a.crt'), 'pem');
  fs.writeFileSync(path.join(dir, 'a.key'), 'pem');
  fs.writeFileSync(file, 'extProc:\n  tls: { certFile: a.crt, keyFile: a.key }\n  clients: { certificateNames: [envoy] }\n');
  expect(() => loadConfig(file, {})).toThrow('extProc.clients.certificateNames: needs mutual TLS (extProc.tls.clientCaFile)');
  // A client CA with another TLS problem: that problem alone, not a second one about mutual TLS.
  fs.writeFileSync(file, 'extProc:\n  tls: { certFile: a.crt, clientCaFile: a.crt }\n  clients: { certificateNames: [envoy] }\n');
  expect(problemsOf(file)).toEqual(['extProc.tls.keyFile: required (a PEM file)']);
  fs.writeFileSync(file, 'extProc:\n  tls: { certFile: a.crt, keyFile: a.key, clientCaFile: a.crt }\n  clients: { certificateNames: [envoy, "spiffe://mesh/ns/edge/sa/gateway"] }\n');
  expect(loadConfig(file, {}).extProc.clients).toEqual({ certificateNames: ['envoy', 'spiffe://mesh/ns/edge/sa/gateway'] });
  expect(loadConfig(undefined, {}).extProc.clients).toEqual({ certificateNames: [] });
});

test('two configured instances of one service at one address are refused; another service may share it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-config-address-'));
  const file = path.join(dir, 'config.json');
  const at = (service: string, id: string) => ({ service, id, host: '10.0.0.1', port: 80 });
  fs.writeFileSync(file, JSON.stringify({ registry: { instances: [at('shop', 'a'), at('cart', 'c'), at('shop', 'b')] } }));
  expect(() => loadConfig(file, {})).toThrow('registry.instances[2].port: 10.0.0.1:80 is the address of registry.instances[0] (id a) in the same service; an address holds one instance');
  fs.writeFileSync(file, JSON.stringify({ registry: { instances: [at('shop', 'a'), at('cart', 'c')] } }));
  expect(loadConfig(file, {}).registry.instances.map((i) => i.id)).toEqual(['a', 'c']);
});

test('two listeners on one port are refused before anything binds; port 0 (the OS picks) may repeat', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-config-ports-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ ports: { extProc: 18080, xds: 18091, admin: 18091 } }));
  expect(() => loadConfig(file, {})).toThrow('ports.admin: 18091 is also ports.xds; each listener needs its own port');
  expect(() => loadConfig(file, { METAROUTE_ADMIN_PORT: '18092' })).not.toThrow();
  fs.writeFileSync(file, JSON.stringify({ ports: { extProc: 0, xds: 0, admin: 0 } }));
  expect(loadConfig(file, {}).ports).toEqual({ extProc: 0, xds: 0, admin: 0 });
});

test('a configured instance is persistent: ephemeral: true is refused (nothing would expire it)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-config-ephemeral-'));
  const file = path.join(dir, 'config.json');
  const shop = { service: 'shop', host: '10.0.0.1', port: 80 };
  fs.writeFileSync(file, JSON.stringify({ registry: { instances: [shop, { ...shop, port: 81, ephemeral: true }] } }));
  expect(() => loadConfig(file, {})).toThrow('registry.instances[1].ephemeral: a configured instance is persistent (it is in the file, not the store); register ephemeral instances through the admin API or the agent');
  fs.writeFileSync(file, JSON.stringify({ registry: { instances: [shop, { ...shop, port: 81, ephemeral: false }] } }));
  expect(loadConfig(file, {}).registry.instances.map((i) => i.ephemeral)).toEqual([false, false]);
});

test('a configured instance may carry more labels than a registration (64): the file was valid before that limit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-config-labels-'));
  const file = path.join(dir, 'config.json');
  const metadata = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`k${i}`, 'v']));
  fs.writeFileSync(file, JSON.stringify({ registry: { instances: [{ service: 'shop', host: '10.0.0.1', port: 80, metadata }] } }));
  expect(Object.keys(loadConfig(file, {}).registry.instances[0]!.metadata)).toHaveLength(80);
});

test('a configured instance may give a TTL under a second (persistent: unused): the file was valid before registrations asked at least 1', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-config-ttl-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ registry: { instances: [{ service: 'shop', host: '10.0.0.1', port: 80, ttlSeconds: 0.5 }] } }));
  expect(loadConfig(file, {}).registry.instances.map((i) => [i.ephemeral, i.ttlSeconds])).toEqual([[false, 0.5]]);
});
