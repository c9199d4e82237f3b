import * as fs from 'node:fs';
import * as fsPromises from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../src/log/logger';
import { Registry } from '../../src/registry/registry';
import { RegistryStoreSync } from '../../src/registry/store-sync';
import { EmbeddedStore } from '../../src/store/embedded';
import { until } from '../support/app';
import { captureLogs } from '../support/logs';
import { instance } from '../xds/helpers';

// Failures of the disk, which cannot be made here (tests run as root, so permissions refuse
// nothing): a rename that fails once is injected through this mock, which otherwise passes
// every call to the real module; a failing write, through a read-only handle (below).
jest.mock('node:fs/promises', () => {
  const actual = jest.requireActual<typeof import('node:fs/promises')>('node:fs/promises');
  return { ...actual, rename: jest.fn(actual.rename) };
});

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-store-faults-'));

// The store's log handle is swapped for a read-only one: the write and the truncate that would cut it back fail.
test('a failed group commit fails every caller in it, forgets its records, and closes the store when it cannot cut the log back', async () => {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  await store.put('x', 'kept');
  const internals = store as unknown as { file: fsPromises.FileHandle };
  const writable = internals.file;
  internals.file = await fsPromises.open(path.join(dir, 'store.log'), 'r');
  const outcomes = await Promise.allSettled([store.put('a', '1'), store.putAll([{ key: 'b', value: '2' }]), store.delete('x')]);
  expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
  await expect(store.put('y', '3')).rejects.toThrow('store is closed');
  expect(await store.delete('a')).toBe(false); // not left pending
  await writable.close();
  await store.close();
  const reopened = await EmbeddedStore.open(dir);
  expect((await reopened.list('')).entries).toEqual([{ key: 'x', value: 'kept' }]);
  await reopened.close();
});

test('a compaction whose switch-over fails is logged; writes after it still commit', async () => {
  const dir = tmp();
  const { logger, lines } = captureLogs();
  const store = await EmbeddedStore.open(dir, { log: logger, compactAfterRecords: 64 });
  jest.mocked(fsPromises.rename).mockRejectedValueOnce(new Error('disk says no'));
  try {
    for (let i = 0; i < 200; i++) await store.put('k', `v${i}`);
    await until(() => lines.some((l) => l.includes('compaction failed')), 'the compaction to fail');
    const hung = new Promise((resolve) => setTimeout(() => resolve('hung'), 5000).unref());
    expect(await Promise.race([store.put('after', 'x'), hung])).toEqual(expect.any(Number));
  } finally {
    await store.close();
  }
  const reopened = await EmbeddedStore.open(dir);
  expect((await reopened.list('')).entries).toEqual([{ key: 'after', value: 'x' }, { key: 'k', value: 'v199' }]);
  await reopened.close();
});

test('a batch whose writes fail rejects once, with no promise left unhandled', async () => {
  const store = await EmbeddedStore.open(tmp());
  const sync = new RegistryStoreSync(store, new Registry(), silentLogger, 30);
  await sync.start();
  await store.close();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const many = Array.from({ length: 1200 }, (_, i) => instance('shop', 1000 + i)); // three chunks, two turns between them
    await expect(sync.batch(many, [])).rejects.toThrow('store is closed');
    await expect(sync.batch([instance('shop', 1)], [{ namespace: 'default', service: 'shop', id: 'shop-2' }])).rejects.toThrow('store is closed');
    await new Promise((resolve) => setTimeout(resolve, 50)); // turns for a stray rejection to be reported
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    sync.stop();
  }
});

// A write that fails while the log can still be cut back leaves the store open: what was queued
// behind it may have been decided on its records, so it must not commit on its own.
test('a write that fails fails the conditional writes queued behind it that compared with its records', async () => {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  await store.put('k', 'v0');
  const { writeCalled, failWrite, restore } = holdNextWrite(store);
  try {
    const first = store.put('k', 'v1');
    await writeCalled; // its group commit is being written
    const conditional = store.putIf('k', 'v2', 'v1'); // compares with v1, still pending
    const afterIt = store.delete('k');
    failWrite(new Error('disk full'));
    const outcomes = await Promise.allSettled([first, conditional, afterIt]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await store.put('later', 'x')).toEqual(expect.any(Number)); // still open: the log was cut back
    expect((await store.list('')).entries).toEqual([{ key: 'k', value: 'v0' }, { key: 'later', value: 'x' }]);
  } finally {
    restore();
    await store.close();
  }
});

// A delete behind another of the same key must not answer "absent" before that one is durable:
// if it fails, the key stays, and the second delete is the one that removes it.
test('a delete behind a pending delete of the key that fails deletes it itself', async () => {
  const store = await EmbeddedStore.open(tmp());
  await store.put('k', 'v0');
  const { writeCalled, failWrite, restore } = holdNextWrite(store);
  try {
    const first = store.delete('k');
    await writeCalled; // its group commit is being written
    const second = store.delete('k');
    failWrite(new Error('disk full'));
    const outcomes = await Promise.allSettled([first, second]);
    expect(outcomes).toEqual([{ status: 'rejected', reason: new Error('disk full') }, { status: 'fulfilled', value: true }]);
    expect((await store.list('')).entries).toEqual([]);
  } finally {
    restore();
    await store.close();
  }
});

test('a delete behind a pending delete of the key answers false once that one is durable', async () => {
  const store = await EmbeddedStore.open(tmp());
  await store.put('k', 'v0');
  try {
    const answered: string[] = [];
    const first = store.delete('k').then((deleted) => answered.push(`first ${deleted}`));
    const second = store.delete('k').then((deleted) => answered.push(`second ${deleted}`));
    await Promise.all([first, second]);
    expect(answered).toEqual(['first true', 'second false']);
  } finally {
    await store.close();
  }
});

/**
 * The store's next log write hangs until `failWrite` rejects it: `writeCalled` resolves once
 * its group commit is being written. `restore` puts the real file back.
 */
function holdNextWrite(store: EmbeddedStore): { writeCalled: Promise<void>; failWrite: (error: Error) => void; restore: () => void } {
  const internals = store as unknown as { file: fsPromises.FileHandle };
  const real = internals.file;
  let reject: (error: Error) => void = () => undefined;
  let writing!: () => void;
  const writeCalled = new Promise<void>((resolve) => (writing = resolve));
  let held = false;
  internals.file = new Proxy(real, {
    get(target, property) {
      if (property === 'write' && !held) {
        held = true;
        return () => {
          writing();
          return new Promise((_, fail) => (reject = fail));
        };
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { writeCalled, failWrite: (error) => reject(error), restore: () => (internals.file = real) };
}
