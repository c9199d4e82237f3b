import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LOADED_PREFIX,
  MetadataError,
  loadStaticMetadata,
  loadedLine,
  mergeMetadata,
  metadataFromEnv,
  metadataFromProvider,
  parseMetadataFile,
} from '../../src/agent/metadata';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-agent-meta-'));
const write = (name: string, text: string) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
};

describe('mergeMetadata precedence: provider > env > file > config', () => {
  const layers = {
    config: { a: 'config', b: 'config', c: 'config', d: 'config' },
    file: { b: 'file', c: 'file', d: 'file' },
    env: { c: 'env', d: 'env' },
    provider: { d: 'provider' },
  };

  it('each key takes the value of the highest layer that sets it', () => {
    expect(mergeMetadata(layers, []).metadata).toEqual({ a: 'config', b: 'file', c: 'env', d: 'provider' });
  });

  it('publishes transitive keys as metaroute.transitive, deduplicated, in the order given', () => {
    const merged = mergeMetadata(layers, ['d', 'a', 'd']);
    expect(merged.transitive).toEqual(['d', 'a']);
    expect(merged.metadata['metaroute.transitive']).toBe('d,a');
  });

  it('refuses a transitive key that no layer sets', () => {
    expect(() => mergeMetadata(layers, ['a', 'nope'])).toThrow('transitive keys without a value: nope');
  });

  it('refuses more labels than the server takes, counting metaroute.transitive', () => {
    const many = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v']));
    expect(Object.keys(mergeMetadata({ config: many, file: {}, env: {}, provider: {} }, []).metadata)).toHaveLength(64);
    expect(() => mergeMetadata({ config: many, file: {}, env: {}, provider: {} }, ['k1'])).toThrow('65 metadata keys (metaroute.transitive included), at most 64: the server refuses more');
  });

  it('sorts keys so the log line is stable', () => {
    expect(Object.keys(mergeMetadata({ config: { z: '1', a: '2' }, file: {}, env: {}, provider: {} }, []).metadata)).toEqual(['a', 'z']);
  });
});

describe('environment source', () => {
  it('lower-cases keys after the prefix, keeps `_`, and reads the transitive list apart', () => {
    const env = {
      METAROUTE_METADATA_CONTENT_USER: 'A',
      METAROUTE_METADATA_CONTENT_IDC_NAME: 'sz',
      METAROUTE_METADATA_CONTENT_TRANSITIVE: 'USER, idc_name',
      OTHER: 'x',
    };
    expect(metadataFromEnv(env)).toEqual({ metadata: { user: 'A', idc_name: 'sz' }, transitive: ['user', 'idc_name'] });
  });

  it('names the variable whose key is invalid', () => {
    expect(() => metadataFromEnv({ METAROUTE_METADATA_CONTENT__X: '1' })).toThrow('environment variable METAROUTE_METADATA_CONTENT__X: invalid metadata key "_x"');
  });
});

describe('file source', () => {
  it('reads key=value lines, skipping comments and blank lines, trimming around =', () => {
    expect(parseMetadataFile('# tags\n\nenv = dev1\n  zone=z1  \nurl=a=b\n', 'm.env')).toEqual({ env: 'dev1', zone: 'z1', url: 'a=b' });
  });

  it('names file:line for a line without =, an invalid key and a duplicate', () => {
    expect(() => parseMetadataFile('env=dev\nbogus\n', 'm.env')).toThrow('m.env:2: expected key=value, got "bogus"');
    expect(() => parseMetadataFile('\n=x\n', 'm.env')).toThrow('m.env:2: invalid metadata key ""');
    expect(() => parseMetadataFile('a=1\n# c\na=2\n', 'm.env')).toThrow('m.env:3: duplicate key a (first set on line 1)');
  });
});

describe('provider source', () => {
  it('calls getMetadata(), sync or async, module.exports or default export', async () => {
    const sync = write('sync.js', 'module.exports = { getMetadata: () => ({ zone: "z9" }) };');
    const asyncDefault = write('async.js', 'exports.default = { getMetadata: async () => ({ user: "B" }) };');
    expect(await metadataFromProvider(sync)).toEqual({ zone: 'z9' });
    expect(await metadataFromProvider(asyncDefault)).toEqual({ user: 'B' });
  });

  it('refuses a module without getMetadata and non-string values', async () => {
    const none = write('none.js', 'module.exports = {};');
    const bad = write('bad.js', 'module.exports = { getMetadata: () => ({ n: 1 }) };');
    await expect(metadataFromProvider(none)).rejects.toThrow(MetadataError);
    await expect(metadataFromProvider(bad)).rejects.toThrow('value of n must be a string, got number');
  });

  it("reports a provider that cannot be loaded or whose getMetadata() fails as a MetadataError, in one line", async () => {
    const missing = path.join(tmp, 'no-such-provider.js');
    const throwing = write('throwing.js', 'module.exports = { getMetadata: async () => { throw new Error("vault sealed"); } };');
    await expect(metadataFromProvider(missing)).rejects.toThrow(MetadataError);
    await expect(metadataFromProvider(missing)).rejects.toThrow(`provider ${missing}: cannot load it: Cannot find module '${missing}'`);
    await expect(metadataFromProvider(throwing)).rejects.toThrow(new MetadataError(`provider ${throwing}: getMetadata() failed: vault sealed`));
  });
});

describe('loadStaticMetadata: all four sources', () => {
  it('names a metadata file it cannot read', async () => {
    const missing = path.join(tmp, 'none.env');
    await expect(loadStaticMetadata({ config: {}, transitive: [], file: missing, env: {} })).rejects.toThrow(new MetadataError(`cannot read --metadata-file ${missing}: ENOENT: no such file or directory, open '${missing}'`));
  });

  it('merges config < file < env < provider and renders the log line', async () => {
    const file = write('all.env', 'user=file\nzone=file\nenv=file\n');
    const provider = write('all-provider.js', 'module.exports = { getMetadata: () => ({ user: "provider" }) };');
    const merged = await loadStaticMetadata({
      config: { user: 'config', zone: 'config', env: 'config', idc: 'config' },
      transitive: ['env'],
      file,
      provider,
      env: { METAROUTE_METADATA_CONTENT_USER: 'env', METAROUTE_METADATA_CONTENT_ZONE: 'env', METAROUTE_METADATA_CONTENT_TRANSITIVE: 'zone' },
    });
    const expected = { env: 'file', idc: 'config', 'metaroute.transitive': 'env,zone', user: 'provider', zone: 'env' };
    expect(merged.metadata).toEqual(expected);
    expect(loadedLine(merged.metadata)).toBe(`${LOADED_PREFIX}${JSON.stringify(expected)}`);
    expect(loadedLine(merged.metadata)).toMatch(/^Loaded static metadata info: \{/);
  });
});

describe("Spring Cloud Tencent's environment spelling", () => {
  test('SCT_METADATA_CONTENT_* and SCT_METADATA_CONTENT_TRANSITIVE are read beside METAROUTE_*, which wins a shared key', () => {
    expect(metadataFromEnv({ SCT_METADATA_CONTENT_ENV: 'dev1', SCT_METADATA_CONTENT_TRANSITIVE: 'ENV' })).toEqual({ metadata: { env: 'dev1' }, transitive: ['env'] });
    expect(metadataFromEnv({ SCT_METADATA_CONTENT_ENV: 'dev1', METAROUTE_METADATA_CONTENT_ENV: 'dev2', SCT_METADATA_CONTENT_TRANSITIVE: 'ENV', METAROUTE_METADATA_CONTENT_TRANSITIVE: 'env,zone', METAROUTE_METADATA_CONTENT_ZONE: 'z1' }))
      .toEqual({ metadata: { env: 'dev2', zone: 'z1' }, transitive: ['env', 'zone'] });
  });
});
