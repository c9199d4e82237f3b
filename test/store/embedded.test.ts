import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore, StoreCorruptError } from '../../src/store/embedded';
import { DataDirInUseError } from '../../src/store/lock';
import { repairStore } from '../../src/store/repair';
import { runCommand } from '../../src/cli/command';
import { storeCommand } from '../../src/cli/store';
import { captureLogs } from '../support/logs';
import type { StoreEvent } from '../../src/store/store';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-store-'));

test('put, list, delete and watch; data survives close and reopen', async () => {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  const events: StoreEvent[] = [];
  store.watch('a/', (await store.list('a/')).revision, (e) => events.push(e));
  await store.put('a/1', 'one');
  await store.put('b/1', 'other prefix');
  await store.put('a/2', 'two');
  expect(await store.delete('a/1')).toBe(true);
  expect(await store.delete('a/404')).toBe(false);
  const pendingPut = store.put('b/2', 'on its way');
  expect([await store.get('a/2'), await store.get('a/1'), await store.get('b/2')]).toEqual(['two', undefined, 'on its way']);
  await pendingPut;
  expect(events.map((e) => [e.type, e.key, e.value])).toEqual([['put', 'a/1', 'one'], ['put', 'a/2', 'two'], ['delete', 'a/1', undefined]]);
  await store.close();
  const reopened = await EmbeddedStore.open(dir);
  expect((await reopened.list('')).entries).toEqual([{ key: 'a/2', value: 'two' }, { key: 'b/1', value: 'other prefix' }, { key: 'b/2', value: 'on its way' }]);
  await reopened.close();
});

test('putAll: one promise for many keys, written and watched together and in order; a closed store refuses it', async () => {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  const events: StoreEvent[] = [];
  store.watch('k/', (await store.list('k/')).revision, (e) => events.push(e));
  const puts = Array.from({ length: 1000 }, (_, i) => ({ key: `k/${i}`, value: `v${i}` }));
  await store.putAll(puts);
  expect(events.map((e) => [e.key, e.value])).toEqual(puts.map((p) => [p.key, p.value]));
  expect(events.map((e) => e.revision - events[0]!.revision)).toEqual(puts.map((_, i) => i));
  await store.close();
  await expect(store.putAll(puts)).rejects.toThrow('store is closed');
  const reopened = await EmbeddedStore.open(dir);
  expect((await reopened.list('k/')).entries).toHaveLength(1000);
  await reopened.close();
});

test('a group commit takes at most 500 records (each is one synchronous step on the event loop); a putAll stays whole in one', async () => {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  const events: StoreEvent[] = [];
  store.watch('k/', (await store.list('k/')).revision, (e) => events.push(e));
  // One turn: 300 puts, a putAll of 400 (does not fit beside them: the next commit), 900 more puts.
  const first = Array.from({ length: 300 }, (_, i) => store.put(`k/a${i}`, 'v'));
  const all = store.putAll(Array.from({ length: 400 }, (_, i) => ({ key: `k/b${i}`, value: 'v' })));
  const rest = Array.from({ length: 900 }, (_, i) => store.put(`k/c${i}`, 'v'));
  await first[0];
  expect(events).toHaveLength(300);
  await all;
  expect(events.map((e) => e.key.slice(0, 3))).toEqual([...Array(300).fill('k/a'), ...Array(400).fill('k/b'), ...Array(100).fill('k/c')]);
  await Promise.all([...first, ...rest]);
  expect(events).toHaveLength(1600);
  expect(events.map((e) => e.revision - events[0]!.revision)).toEqual(events.map((_, i) => i));
  await store.close();
  const reopened = await EmbeddedStore.open(dir);
  expect((await reopened.list('k/')).entries).toHaveLength(1600);
  await reopened.close();
});

test('close() writes the puts queued while it waits its turn, over several group commits, in order', async () => {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  const closing = store.close();
  await Promise.resolve(); // close() has queued its turn; the puts below open commits behind it
  const writes = Array.from({ length: 1200 }, (_, i) => store.put(`k/${i % 600}`, `v${i}`));
  expect((await Promise.allSettled(writes)).filter((w) => w.status === 'rejected')).toEqual([]);
  await closing;
  const reopened = await EmbeddedStore.open(dir);
  const { entries } = await reopened.list('k/');
  expect(entries).toHaveLength(600);
  expect(entries.every((e) => Number(e.value.slice(1)) >= 600)).toBe(true); // each key's later put
  await reopened.close();
});

test('a torn last record (a crash mid-write, never acknowledged) is dropped on open', async () => {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  await store.put('k', 'kept');
  await store.close();
  fs.appendFileSync(path.join(dir, 'store.log'), '{"r":2,"k":"torn","v":"hal');
  const reopened = await EmbeddedStore.open(dir);
  expect((await reopened.list('')).entries).toEqual([{ key: 'k', value: 'kept' }]);
  await reopened.put('after', 'ok');
  await reopened.close();
  const again = await EmbeddedStore.open(dir);
  expect((await again.list('')).entries.map((e) => e.key)).toEqual(['after', 'k']);
  await again.close();
});

/** Runs writer-child.ts until it has `acks` acknowledged writes, then kills it with SIGKILL; returns what it acknowledged. */
async function writeUntilKilled(dir: string, acks: number, keys = 0): Promise<number[]> {
  const child = spawn(process.execPath, ['-r', require.resolve('../support/register-ts'), path.join(__dirname, 'writer-child.ts'), dir, String(keys)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked: number[] = [];
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) acked.push(Number(line.slice(4)));
      if (acked.length >= acks && !child.killed) child.kill('SIGKILL');
    });
    child.on('exit', () => resolve());
    child.on('error', reject);
    setTimeout(() => reject(new Error('child wrote too slowly')), 20000).unref();
  });
  return acked;
}

test('kill -9 loses no acknowledged write', async () => {
  const dir = tmp();
  const acked = await writeUntilKilled(dir, 300);
  expect(acked.length).toBeGreaterThanOrEqual(300);
  const store = await EmbeddedStore.open(dir);
  const stored = new Map((await store.list('k/')).entries.map((e) => [e.key, e.value]));
  const lost = acked.filter((n) => stored.get(`k/${n}`) !== `value-${n}`);
  expect(lost).toEqual([]);
  await store.close();
});

test('kill -9 during online compaction loses no acknowledged write, and the log stays compact', async () => {
  const dir = tmp();
  const keys = 20;
  const acked = await writeUntilKilled(dir, 3000, keys);
  // Each key holds its last acknowledged write or a later one (written, not yet acknowledged).
  const lastAcked = new Map<string, number>();
  for (const n of acked) lastAcked.set(`k/${n % keys}`, Math.max(n, lastAcked.get(`k/${n % keys}`) ?? -1));
  const lines = fs.readFileSync(path.join(dir, 'store.log'), 'utf8').split('\n').length;
  expect(lines).toBeLessThan(acked.length / 2); // compacted while running (3,000 writes, threshold 200 records)
  const store = await EmbeddedStore.open(dir);
  const stored = new Map((await store.list('k/')).entries.map((e) => [e.key, Number(e.value.slice('value-'.length))]));
  const behind = [...lastAcked].filter(([key, n]) => !(stored.get(key)! >= n && stored.get(key)! % keys === n % keys));
  expect(behind).toEqual([]);
  await store.close();
});

test('a delete queued right after a put in the same turn deletes it', async () => {
  const store = await EmbeddedStore.open(tmp());
  const put = store.put('k', 'v');
  const deleted = store.delete('k');
  await put;
  expect(await deleted).toBe(true);
  expect((await store.list('')).entries).toEqual([]);
  await store.close();
});

test('a watcher that throws neither stalls the store nor keeps other watchers from their events', async () => {
  const store = await EmbeddedStore.open(tmp());
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
  const store = await EmbeddedStore.open(dir, { compactAfterRecords: 1000 });
  for (let i = 0; i < 70; i++) await store.put('k', String(i));
  await store.delete('k');
  const { revision } = await store.list('');
  await store.close();
  const compacted = await EmbeddedStore.open(dir, { compactAfterRecords: 64 }); // 71 records for 0 live keys: compacts on open
  expect((await compacted.list('')).revision).toBe(revision);
  await compacted.close();
  const again = await EmbeddedStore.open(dir);
  expect((await again.list('')).revision).toBe(revision);
  expect(fs.readFileSync(path.join(dir, 'store.log'), 'utf8').trim().split('\n')).toHaveLength(1);
  await again.close();
});

test('compacts while running: churn on a few keys keeps the log small, with writes landing during the compaction', async () => {
  const dir = tmp();
  const { logger, lines: logs } = captureLogs();
  const store = await EmbeddedStore.open(dir, { compactAfterRecords: 100, log: logger });
  const events: StoreEvent[] = [];
  store.watch('', 0, (e) => events.push(e));
  for (let round = 0; round < 100; round++) {
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.put(`k/${i}`, `${round}`)));
  }
  await store.delete('k/9');
  expect(events).toHaveLength(1001);
  expect(logs.some((m) => /compacted \d+ records/.test(m))).toBe(true);
  expect(fs.readFileSync(path.join(dir, 'store.log'), 'utf8').split('\n').length).toBeLessThan(300);
  const { revision } = await store.list('');
  await store.close();
  const reopened = await EmbeddedStore.open(dir);
  const listed = await reopened.list('');
  expect(listed.revision).toBe(revision);
  expect(listed.entries).toEqual(Array.from({ length: 9 }, (_, i) => ({ key: `k/${i}`, value: '99' })));
  await reopened.close();
});

/** A log of `n` puts k/0..k/n-1, closed. */
async function logWith(n: number): Promise<{ dir: string; file: string }> {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  for (let i = 0; i < n; i++) await store.put(`k/${i}`, JSON.stringify({ host: '10.0.0.1', port: 10000 + i }));
  await store.close();
  return { dir, file: path.join(dir, 'store.log') };
}

function editLine(file: string, line: number, edit: (text: string) => string): void {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines[line - 1] = edit(lines[line - 1]!);
  fs.writeFileSync(file, lines.join('\n'));
}

test('a flipped digit inside a record refuses the start, naming file, line, key and the repair command; the repair keeps what precedes it', async () => {
  const { dir, file } = await logWith(5);
  editLine(file, 3, (text) => text.replace('10002', '20002'));
  const opened = EmbeddedStore.open(dir);
  await expect(opened).rejects.toThrow(StoreCorruptError);
  await expect(opened).rejects.toThrow(`${file}:3: corrupt record for key "k/2" (checksum mismatch)`);
  await expect(opened).rejects.toThrow(`metaroute store repair --data-dir ${dir}`);

  const report = await repairStore(dir);
  expect(report).toContain('kept 2 records (up to revision 2); dropped line 3 (key "k/2"): checksum mismatch, and the 2 line(s) after it');
  const repaired = await EmbeddedStore.open(dir);
  expect((await repaired.list('')).entries.map((e) => e.key)).toEqual(['k/0', 'k/1']);
  await repaired.put('k/after', 'ok'); // the log goes on from revision 2
  expect((await repaired.list('')).revision).toBe(3);
  await repaired.close();
  expect(await repairStore(dir)).toContain('is intact: 3 records');
});

test('store repair: an empty data directory has nothing to repair (exit 0); a missing one is named (exit 1)', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-repair-'));
  const run = async (dir: string) => {
    let out = '';
    let err = '';
    const code = await runCommand(storeCommand, ['repair', '--data-dir', dir], { out: (t) => void (out += t), err: (t) => void (err += t) });
    return { code, out, err };
  };
  expect(await repairStore(empty)).toBe(`${empty} holds no store log (store.log): nothing to repair`);
  const missing = path.join(empty, 'nope');
  const refused = await run(missing);
  expect([refused.code, refused.err.trim()]).toEqual([1, `metaroute store: no data directory at ${missing}`]);
});

test('an unreadable value and a missing line are refused with their line', async () => {
  const bad = await logWith(3);
  editLine(bad.file, 2, () => 'o');
  await expect(EmbeddedStore.open(bad.dir)).rejects.toThrow(`${bad.file}:2: corrupt record (not a record)`);

  const gap = await logWith(4);
  editLine(gap.file, 2, () => '');
  await expect(EmbeddedStore.open(gap.dir)).rejects.toThrow(`${gap.file}:3: corrupt record for key "k/2" (revision 3 follows 1`);
});

test('says at start how many records it loaded, and logs a dropped torn record', async () => {
  const { dir, file } = await logWith(3);
  fs.appendFileSync(file, '1234abcd {"r":4,"k":"to');
  const { logger, records } = captureLogs();
  const store = await EmbeddedStore.open(dir, { log: logger });
  expect(records().map((r) => r.msg)).toEqual([
    `store: dropped an incomplete last record at ${file}:4 (23 bytes without a newline: a write cut short by a crash, never acknowledged)`,
    `store: loaded 3 records (3 keys, revision 3) from ${file}`,
  ]);
  await store.close();
});

test('a log written before checksums loads and is rewritten with them', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'store.log'), '{"r":1,"k":"a","v":"1"}\n{"r":2,"k":"b","v":"2"}\n{"r":3,"k":"a"}\n');
  const store = await EmbeddedStore.open(dir);
  expect(await store.list('')).toEqual({ entries: [{ key: 'b', value: '2' }], revision: 3 });
  await store.close();
  expect(fs.readFileSync(path.join(dir, 'store.log'), 'utf8')).toMatch(/^[0-9a-f]{8} \{"r":3,"k":"b","v":"2"\}\n[0-9a-f]{8} \{"r":3\}\n$/);
});

test('a second process (or a second open) on the same data directory is refused, naming the directory and the owner', async () => {
  const dir = tmp();
  const child = spawn(process.execPath, ['-r', require.resolve('../support/register-ts'), path.join(__dirname, 'holder-child.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
    });
    const opened = EmbeddedStore.open(dir);
    await expect(opened).rejects.toThrow(DataDirInUseError);
    await expect(opened).rejects.toThrow(`data directory ${dir} is in use by process ${child.pid}`);
    await expect(repairStore(dir)).rejects.toThrow(`in use by process ${child.pid}`);
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  const store = await EmbeddedStore.open(dir); // the holder's lock is stale now
  await expect(EmbeddedStore.open(dir)).rejects.toThrow(`data directory ${dir} is already open in this process`);
  await store.close();
});

test('`metaroute store repair --data-dir DIR` is the command line the error names', async () => {
  const { dir, file } = await logWith(3);
  editLine(file, 3, (text) => text.replace('10002', '10003'));
  const run = async (args: string[]) => {
    let out = '';
    const capture = (chunk: string | Uint8Array) => ((out += chunk.toString()), true);
    const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(capture), jest.spyOn(process.stderr, 'write').mockImplementation(capture)];
    try {
      return { code: await runCommand(storeCommand, args), out };
    } finally {
      spies.forEach((s) => s.mockRestore());
    }
  };
  expect((await run(['repair'])).code).toBe(2);
  const repaired = await run(['repair', '--data-dir', dir]);
  expect(repaired).toMatchObject({ code: 0, out: expect.stringContaining(`repaired ${file}: kept 2 records`) });
  const store = await EmbeddedStore.open(dir);
  expect((await store.list('')).entries.map((e) => e.key)).toEqual(['k/0', 'k/1']);
  await store.close();
});

test('a lock whose pid now belongs to another process (a reused pid) is taken over', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'store.lock'), `${process.ppid} 1\n`); // running, but not started at tick 1
  const store = await EmbeddedStore.open(dir);
  expect(fs.readFileSync(path.join(dir, 'store.lock'), 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\n$`));
  await store.close();
});

test('deleteIf deletes a key only while it holds the expected value', async () => {
  const store = await EmbeddedStore.open(tmp());
  try {
    await store.put('k', 'v1');
    expect(await store.deleteIf('k', 'v0')).toBe(false); // replaced meanwhile: kept
    expect((await store.list('k')).entries).toEqual([{ key: 'k', value: 'v1' }]);
    expect(await store.deleteIf('k', 'v1')).toBe(true);
    expect((await store.list('k')).entries).toEqual([]);
    expect(await store.deleteIf('k', 'v1')).toBe(false); // gone
  } finally {
    await store.close();
  }
});
