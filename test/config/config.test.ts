import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, DEFAULTS, loadConfig } from '../../src/config/config';

const write = (text: string, name = 'metaroute.yaml') => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-')), name);
  fs.writeFileSync(file, text);
  return file;
};

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
  const config = loadConfig(file, { METAROUTE_EXTPROC_PORT: '2000', METAROUTE_DATA_DIR: '/tmp/x', METAROUTE_DRAIN_SECONDS: '5' });
  expect(config.ports).toEqual({ extProc: 2000, xds: 18000, admin: 1001 });
  expect(config.drainSeconds).toBe(5);
  expect(() => loadConfig(file, { METAROUTE_DRAIN_SECONDS: 'soon' })).toThrow(/drainSeconds: must be an integer from 0 to 3600, got "soon"/);
  expect(() => loadConfig(file, { METAROUTE_EXTPROC_PORT: ' ' })).toThrow(/ports\.extProc: must be an integer from 0 to 65535, got " "/);
  expect(config.rulesFile).toBe(path.join(path.dirname(file), 'rules.yaml'));
  expect(config.dataDir).toBe('/tmp/x');
});

test('every bad field is named, at once', () => {
  const file = write('ports: { admin: 9901, xds: -1 }\nextProc: { maxHeaderBytes: "big", edge: { onSpoofed: maybe } }\nregistery: {}\nregistry:\n  instances:\n    - { service: shop, host: 10.0.0.1, port: 99999 }\n');
  let problems: readonly string[] = [];
  try {
    loadConfig(file, {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    problems = (error as ConfigError).problems;
  }
  expect(problems).toEqual(expect.arrayContaining([
    expect.stringMatching(/^ports\.admin: 9901 is Envoy's admin port/),
    expect.stringMatching(/^ports\.xds: must be an integer/),
    expect.stringMatching(/^extProc\.maxHeaderBytes: must be an integer/),
    expect.stringMatching(/^extProc\.edge\.onSpoofed: must be reject or strip/),
    expect.stringMatching(/^registery: unknown field/),
    expect.stringMatching(/^registry\.instances\[0\]\.port: /),
  ]));
});

test('a YAML syntax error names the file and line', () => {
  const file = write('ports:\n  admin: [1\n');
  expect(() => loadConfig(file, {})).toThrow(new RegExp(`${file}:\\d+:`));
});

test('a lone surrogate in the configuration is refused with its field', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-config-surrogate-'));
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, '{"registry": {"instances": [{"service": "shop", "host": "10.0.0.1", "port": 1, "metadata": {"v": "\\ud800"}}]}}');
  expect(() => loadConfig(file, {})).toThrow('registry.instances[0].metadata.v: contains a lone UTF-16 surrogate');
  fs.writeFileSync(file, '{"extProc": {"identity": {"payloadKey": "\\udfff"}}}');
  expect(() => loadConfig(file, {})).toThrow('extProc.identity.payloadKey: contains a lone UTF-16 surrogate');
});
