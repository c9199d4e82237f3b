import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore } from '../../src/store/embedded';

/** putIf (the rule document's conditional write) on the embedded store. */

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-store-putif-'));

test('putIf writes only over the expected value, whoever wrote what is there now, also after a reopen', async () => {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  expect(await store.putIf('rules', 'v1', 'stale')).toBeUndefined();
  expect(await store.putIf('rules', 'v1', undefined)).toBe(1);
  expect(await store.putIf('rules', 'v2', undefined)).toBeUndefined();
  expect(await store.putIf('rules', 'v2', 'v1')).toBe(2);
  await store.put('rules', 'by another writer'); // not through putIf
  expect(await store.putIf('rules', 'v3', 'v2')).toBeUndefined();
  expect(await store.putIf('rules', 'v3', 'by another writer')).toBe(4);
  expect(await store.delete('rules')).toBe(true);
  expect(await store.putIf('rules', 'v4', 'v3')).toBeUndefined();
  expect(await store.putIf('rules', 'v4', undefined)).toBe(6);
  await store.putAll([{ key: 'rules', value: 'v5' }]);
  // Two in one turn expecting the same value: the first is queued, the second sees it and loses.
  const [first, second] = await Promise.all([store.putIf('rules', 'v6a', 'v5'), store.putIf('rules', 'v6b', 'v5')]);
  expect([first, second]).toEqual([8, undefined]);
  expect((await store.list('rules')).entries).toEqual([{ key: 'rules', value: 'v6a' }]);
  await store.close();
  const reopened = await EmbeddedStore.open(dir);
  expect(await reopened.putIf('rules', 'v7', 'v5')).toBeUndefined();
  expect(await reopened.putIf('rules', 'v7', 'v6a')).toBe(9);
  await reopened.close();
});

test('putIf compares with the value it last committed without reading the record back from the log', async () => {
  const store = await EmbeddedStore.open(tmp());
  const reads = jest.spyOn(store as unknown as { read: (refs: unknown[]) => Promise<unknown[]> }, 'read');
  const large = 'x'.repeat(600_000);
  expect(await store.putIf('rules', large, undefined)).toBe(1);
  expect(await store.putIf('rules', `${large}!`, large)).toBe(2);
  expect(await store.putIf('rules', 'stale', large)).toBeUndefined();
  expect(reads).not.toHaveBeenCalled();
  await store.close();
});
