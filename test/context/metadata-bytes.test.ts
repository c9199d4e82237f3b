import { metadataBytes, persistentMetadata } from '../../src/context/propagation';
import { DEFAULTS } from '../../src/config/config';
import type { Mutation } from '../../src/model/decision';
import type { HeaderList } from '../../src/model/headers';

const list = (pairs: Record<string, string>): HeaderList => ({ names: Object.keys(pairs), values: Object.values(pairs), bytes: 0, oversized: false });
const sct = (entries: Record<string, unknown>): string => encodeURIComponent(JSON.stringify(entries));

test('rpc-* headers and the disposable header count whole; other headers not at all', () => {
  expect(metadataBytes(list({ ':path': '/x', 'x-user': 'alice', 'rpc-transit-k': 'v1', 'rpc-backward-b': 'z' }))).toBe('rpc-transit-k'.length + 2 + 'rpc-backward-b'.length + 1);
  expect(metadataBytes(list({ 'sct-custom-disposable-metadata': sct({ a: 'b' }) }))).toBe('sct-custom-disposable-metadata'.length + sct({ a: 'b' }).length);
});

test('a whole-chain key counts once, as rpc-persist-<k> with its longest value, whichever spellings carry it', () => {
  const once = 'rpc-persist-lane'.length + 'blue-long'.length;
  expect(metadataBytes(list({ 'rpc-persist-lane': 'blue' }))).toBe('rpc-persist-lane'.length + 4);
  expect(metadataBytes(list({
    'rpc-persist-lane': 'blue',
    'x-sct-metadata-transitive-lane': 'blue-long',
    'x-polaris-metadata-transitive-lane': 'blue',
    'sct-custom-metadata': sct({ LANE: 'blue' }),
  }))).toBe(once);
  expect(metadataBytes(list({ 'x-polaris-metadata-transitive-lane': 'blue-long' }))).toBe(once);
});

test('SCT-CUSTOM-METADATA counts by its entries; unreadable, it counts whole', () => {
  expect(metadataBytes(list({ 'sct-custom-metadata': sct({ a: 'xy', n: 12 }) }))).toBe('rpc-persist-a'.length + 2 + 'rpc-persist-n'.length + 2);
  expect(metadataBytes(list({ 'sct-custom-metadata': '%7Bbroken' }))).toBe('sct-custom-metadata'.length + '%7Bbroken'.length);
});

test('lines of one key within one spelling add up: repeated lines, `_` for `-`, keys differing in case', () => {
  const line = 'rpc-persist-a-b'.length + 4;
  expect(metadataBytes({ names: ['rpc-persist-a-b', 'rpc-persist-a-b'], values: ['xxxx', 'xxxx'], bytes: 0, oversized: false })).toBe(2 * line);
  expect(metadataBytes(list({ 'rpc-persist-a_b': 'xxxx', 'rpc-persist-a-b': 'xxxx', 'x-sct-metadata-transitive-a-b': 'xxxx' }))).toBe(2 * line);
  expect(metadataBytes(list({ 'sct-custom-metadata': sct({ ab: 'xy', AB: 'xy', aB: 'xy' }) }))).toBe(3 * ('rpc-persist-ab'.length + 2));
});

test('SCT-CUSTOM-METADATA longer than the form metaroute writes counts what it adds', () => {
  const canonical = sct({ a: 'xy' });
  const padded = encodeURIComponent(`{"a":     "xy"}`);
  expect(metadataBytes(list({ 'sct-custom-metadata': padded }))).toBe('rpc-persist-a'.length + 2 + padded.length - canonical.length);
  const repeated = encodeURIComponent(`{"a":"${'z'.repeat(100)}","a":"xy"}`); // the parser keeps the last
  expect(metadataBytes(list({ 'sct-custom-metadata': repeated }))).toBeGreaterThan(100);
});

test("metaroute's own markers count whole, never as a whole-chain key, in any spelling", () => {
  expect(metadataBytes(list({ 'rpc-persist-metaroute-transit-seen': 'k=1' }))).toBe('rpc-persist-metaroute-transit-seen'.length + 3);
  const forged = 'x-sct-metadata-transitive-metaroute-transit-seen';
  expect(metadataBytes(list({ [forged]: 'k=1' }))).toBe(forged.length + 3);
});

test('a marker forged in another spelling is not written out as a marker', () => {
  const mutation: Mutation = { set: [], remove: [] };
  persistentMetadata(list({ 'x-sct-metadata-transitive-metaroute-transit-seen': 'k=1', 'x-sct-metadata-transitive-lane': 'blue' }), [], {}, mutation, DEFAULTS.extProc);
  const written = mutation.set.map((h) => h.key);
  expect(written).toContain('rpc-persist-lane');
  expect(written).not.toContain('rpc-persist-metaroute-transit-seen');
});

test('non-ASCII values count in UTF-8 bytes, as they travel', () => {
  const value = '灰度-用户'; // 5 characters, 13 bytes
  expect(metadataBytes(list({ 'rpc-transit-lane': value }))).toBe('rpc-transit-lane'.length + 13);
  expect(metadataBytes(list({ 'rpc-persist-lane': value }))).toBe('rpc-persist-lane'.length + 13);
  expect(metadataBytes(list({ 'sct-custom-metadata': sct({ 泳道: value }) }))).toBe('rpc-persist-'.length + 6 + 13);
  // Unescaped, with padding: counted in bytes beyond the escaped form metaroute writes (59 characters).
  const padded = `{"a":"${value}"}${' '.repeat(60)}`;
  expect(metadataBytes(list({ 'sct-custom-metadata': padded }))).toBe('rpc-persist-a'.length + 13 + (8 + 13 + 60 - sct({ a: value }).length));
});
