import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore } from '../../src/store/embedded';
import type { StoreEvent } from '../../src/store/store';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-store-'));

test('put, list, delete and watch; data survives close and reopen', async () => {
  const dir = tmp();
  const store = EmbeddedStore.open(dir);
  const events: StoreEvent[] = [];
  store.watch('a/', (await store.list('a/')).revision, (e) => events.push(e));
  await store.put('a/1', 'one');
  await store.put('b/1', 'other prefix');
  await store.put('a/2', 'two');
  expect(await store.delete('a/1')).toBe(true);
  expect(await store.delete('a/404')).toBe(false);
  expect(events.map((e) => [e.type, e.key, e.value])).toEqual([['put', 'a/1', 'one'], ['put', 'a/2', 'two'], ['delete', 'a/1', undefined]]);
  await store.close();
  const reopened = EmbeddedStore.open(dir);
  expect((await reopened.list('')).entries).toEqual([{ key: 'a/2', value: 'two' }, { key: 'b/1', value: 'other prefix' }]);
  await reopened.close();
});

test('a torn last record (a crash mid-write, never acknowledged) is dropped on open', async () => {
  const dir = tmp();
  const store = EmbeddedStore.open(dir);
  await store.put('k', 'kept');
  await store.close();
  fs.appendFileSync(path.join(dir, 'store.log'), '{"r":2,"k":"torn","v":"hal');
  const reopened = EmbeddedStore.open(dir);
  expect((await reopened.list('')).entries).toEqual([{ key: 'k', value: 'kept' }]);
  await reopened.put('after', 'ok');
  await reopened.close();
  const again = EmbeddedStore.open(dir);
  expect((await again.list('')).entries.map((e) => e.key)).toEqual(['after', 'k']);
  await again.close();
});

test('kill -9 loses no acknowledged write', async () => {
  const dir = tmp();
  const child = spawn(process.execPath, ['-r', require.resolve('../support/register-ts'), path.join(__dirname, 'writer-child.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acked = new Set<number>();
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) acked.add(Number(line.slice(4)));
      if (acked.size >= 300 && !child.killed) child.kill('SIGKILL');
    });
    child.on('exit', () => resolve());
    child.on('error', reject);
    setTimeout(() => reject(new Error('child wrote too slowly')), 20000).unref();
  });
  expect(acked.size).toBeGreaterThanOrEqual(300);
  const store = EmbeddedStore.open(dir);
  const stored = new Map((await store.list('k/')).entries.map((e) => [e.key, e.value]));
  const lost = [...acked].filter((n) => stored.get(`k/${n}`) !== `value-${n}`);
  expect(lost).toEqual([]);
  await store.close();
});

test('a delete queued right after a put in the same turn deletes it', async () => {
  const store = EmbeddedStore.open(tmp());
  const put = store.put('k', 'v');
  const deleted = store.delete('k');
  await put;
  expect(await deleted).toBe(true);
  expect((await store.list('')).entries).toEqual([]);
  await store.close();
});

test('a watcher that throws neither stalls the store nor keeps other watchers from their events', async () => {
  const store = EmbeddedStore.open(tmp());
  const seen: string[] = [];
  store.watch('', 0, () => {
    throw new Error('bad watcher');
  });
  store.watch('', 0, (e) => seen.push(e.key));
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  await Promise.all([store.put('a', '1'), store.put('b', '2')]);
  stderr.mockRestore();
  expect(seen).toEqual(['a', 'b']);
  expect((await store.list('')).entries.map((e) => e.key)).toEqual(['a', 'b']);
  await store.close();
});

test('compaction keeps the revision even when no key is left', async () => {
  const dir = tmp();
  const store = EmbeddedStore.open(dir);
  for (let i = 0; i < 70; i++) await store.put('k', String(i));
  await store.delete('k');
  const { revision } = await store.list('');
  await store.close();
  const compacted = EmbeddedStore.open(dir); // 71 records for 0 live keys: compacts on open
  expect((await compacted.list('')).revision).toBe(revision);
  await compacted.close();
  const again = EmbeddedStore.open(dir);
  expect((await again.list('')).revision).toBe(revision);
  expect(fs.readFileSync(path.join(dir, 'store.log'), 'utf8').trim().split('\n')).toHaveLength(1);
  await again.close();
});
