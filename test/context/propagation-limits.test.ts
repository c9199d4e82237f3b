import { DEFAULTS } from '../../src/config/config';
import { metadataBytes, persistentMetadata } from '../../src/context/propagation';
import type { Mutation } from '../../src/model/decision';
import { isHeaderName, isHeaderValue, type HeaderList } from '../../src/model/headers';

/**
 * What an outbound call writes must be a mutation Envoy takes: Envoy 1.40 fails the request
 * (500, also with failure_mode_allow) on a set header with an invalid name or value, and on a
 * mutation that takes the request past its max_headers_count or max_request_headers_kb.
 */

const REQUEST: Record<string, string> = { ':method': 'GET', ':path': '/', ':authority': 'shop.default', ':scheme': 'http', 'user-agent': 'test' };

function headers(extra: Record<string, string>): HeaderList {
  const all = { ...REQUEST, ...extra };
  const names = Object.keys(all);
  const values = Object.values(all);
  const bytes = names.reduce((sum, name, i) => sum + name.length + Buffer.byteLength(values[i]!), 0);
  return { names, values, bytes, oversized: false };
}

const sct = (entries: Record<string, unknown>): string => encodeURIComponent(JSON.stringify(entries));

function written(list: HeaderList, limits = DEFAULTS.extProc, transitive: string[] = [], labels: Record<string, string> = {}): Map<string, string> {
  const mutation: Mutation = { set: [], remove: [] };
  persistentMetadata(list, transitive, labels, mutation, limits);
  return new Map(mutation.set.map((h) => [h.key, h.value]));
}

test('an SCT-CUSTOM-METADATA entry no header can carry is copied into no per-key header, the rest are', () => {
  const entries = { lane: 'blue', 'a b': 'x', é: 'x', 'a/b': 'x', crlf: 'a\r\nb', ctl: 'a\u0001b', tab: 'a\tb', utf8: '灰度' };
  const set = written(headers({ 'sct-custom-metadata': sct(entries) }));
  for (const [name, value] of set) {
    expect(isHeaderName(name)).toBe(true);
    expect(isHeaderValue(value)).toBe(true);
  }
  expect(set.get('rpc-persist-lane')).toBe('blue');
  expect(set.get('x-polaris-metadata-transitive-tab')).toBe('a\tb');
  expect(set.get('x-sct-metadata-transitive-utf8')).toBe('灰度');
  expect([...set.keys()].filter((k) => /crlf|ctl|a b|é|a\/b/.test(k))).toEqual([]);
  // SCT-CUSTOM-METADATA itself is left as it came (nothing in it changes): every entry still travels there.
  expect(set.has('sct-custom-metadata')).toBe(false);
});

test('an invalid value from the caller’s own label is not written per key either', () => {
  const set = written(headers({}), DEFAULTS.extProc, ['env', 'lane'], { env: 'dev\n1', lane: 'blue' });
  expect(set.has('rpc-persist-env')).toBe(false);
  expect(set.get('rpc-persist-lane')).toBe('blue');
  expect(JSON.parse(decodeURIComponent(set.get('sct-custom-metadata')!))).toEqual({ env: 'dev\n1', lane: 'blue' });
});

test('copies that would pass Envoy’s header count are not written: the request goes on as it came', () => {
  const many = Object.fromEntries(Array.from({ length: 34 }, (_, i) => [`rpc-persist-k${i}`, 'v']));
  expect(written(headers(many)).size).toBe(0);
  // The same with room for them: every key in every spelling, and SCT-CUSTOM-METADATA.
  expect(written(headers(many), { ...DEFAULTS.extProc, maxHeadersCount: 200 }).size).toBe(34 * 2 + 1);
  // Exactly at the limit: the request's headers, the copies and one kept for routing's cluster header.
  const few = Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`rpc-persist-k${i}`, 'v']));
  const needed = Object.keys(REQUEST).length + 3 + 3 * 2 + 1 + 1;
  expect(written(headers(few), { ...DEFAULTS.extProc, maxHeadersCount: needed }).size).toBe(7);
  expect(written(headers(few), { ...DEFAULTS.extProc, maxHeadersCount: needed - 1 }).size).toBe(0);
});

test('copies that would pass Envoy’s header bytes are not written', () => {
  // 7,000 quotes: under the 8 KiB metadata limit, 63 KB once JSON- and URL-encoded into SCT-CUSTOM-METADATA.
  const list = headers({ 'rpc-persist-q': '"'.repeat(7000) });
  expect(metadataBytes(list)).toBeLessThan(DEFAULTS.extProc.maxMetadataBytes);
  expect(written(list).size).toBe(0);
  expect(written(list, { ...DEFAULTS.extProc, maxHeaderBytes: 128 * 1024 }).get('x-sct-metadata-transitive-q')).toBe('"'.repeat(7000));
});

test('SCT-CUSTOM-METADATA nested deeper than JSON.stringify can go is unreadable, not a failure', () => {
  const deep = encodeURIComponent(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`);
  const list = headers({ 'sct-custom-metadata': deep });
  expect(metadataBytes(list)).toBe('sct-custom-metadata'.length + deep.length);
  // Counted whole and left as it is; the caller's lane is still written.
  const set = written(list, DEFAULTS.extProc, ['env'], { env: 'dev1' });
  expect(set.get('rpc-persist-env')).toBe('dev1');
  expect(set.has('sct-custom-metadata')).toBe(false);
});

test('a whole-chain value whose bytes were not UTF-8 (decoded to U+FFFD) is copied nowhere: only the line as sent travels', () => {
  const set = written(headers({ 'rpc-persist-env': 'caf\ufffd', 'rpc-persist-lane': 'blue' }), DEFAULTS.extProc, ['env'], { env: 'dev1' });
  expect([...set.keys()].filter((k) => k.endsWith('-env'))).toEqual([]); // nor the caller's label: the request carries env
  expect(set.get('x-sct-metadata-transitive-lane')).toBe('blue');
  expect(JSON.parse(decodeURIComponent(set.get('sct-custom-metadata')!))).toEqual({ lane: 'blue' });
});
