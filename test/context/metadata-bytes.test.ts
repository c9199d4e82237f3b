import { metadataBytes } from '../../src/context/propagation';
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

test("metaroute's own markers count whole, never as a whole-chain key", () => {
  expect(metadataBytes(list({ 'rpc-persist-metaroute-transit-seen': 'k=1' }))).toBe('rpc-persist-metaroute-transit-seen'.length + 3);
});
