// The embedded store keeps no values in memory: list() and compaction read records back from
// the log at the positions the index holds. These tests check those positions stay right
// through overwrites, deletes, compactions with writes landing during them, and reopen, and
// that a record altered on disk is refused rather than served.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore, StoreCorruptError } from '../../src/store/embedded';
import type { StoreEntry, StoreEvent } from '../../src/store/store';
import { captureLogs } from '../support/logs';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-store-reads-'));

const sorted = (model: Map<string, string>): StoreEntry[] =>
  [...model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));

/** The store's state at a revision, replayed from the watch events up to it. */
function stateAt(events: readonly StoreEvent[], revision: number, prefix = ''): Map<string, string> {
  const state = new Map<string, string>();
  for (const e of events) {
    if (e.revision > revision || !e.key.startsWith(prefix)) continue;
    if (e.type === 'put') state.set(e.key, e.value!);
    else state.delete(e.key);
  }
  return state;
}

/** A logger that notes how many writes were acknowledged when each compaction started and when it finished. */
function compactionWatch(acked: () => number): { logger: ReturnType<typeof captureLogs>['logger']; compactions: Array<{ started: number; finished?: number }> } {
  const compactions: Array<{ started: number; finished?: number }> = [];
  const lines = {
    push: (line: string) => {
      const msg = (JSON.parse(line) as { msg: string }).msg;
      if (msg.startsWith('store: compacting')) compactions.push({ started: acked() });
      if (msg.startsWith('store: compacted')) compactions.at(-1)!.finished = acked();
      return 0;
    },
  } as unknown as string[];
  return { logger: captureLogs(lines).logger, compactions };
}

/** A small deterministic random source (mulberry32), so a failure can be replayed. */
function random(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

// Multi-byte characters: positions are bytes, not characters.
const PIECES = ['plain', 'é', '漢字', '🙂', '"quoted"\\n\n'];

test('list() returns exactly the latest values through overwrites and deletes, during and after compactions with writes landing during them, and after reopen', async () => {
  const dir = tmp();
  let acked = 0;
  const { logger, compactions } = compactionWatch(() => acked);
  const store = await EmbeddedStore.open(dir, { compactAfterRecords: 300, log: logger });
  const events: StoreEvent[] = [];
  store.watch('', 0, (e) => events.push(e));
  const model = new Map<string, string>();
  const next = random(42);
  const value = (round: number) => `${PIECES[next(PIECES.length)]!.repeat(1 + next(60))}@${round}`;
  const write = (key: string, round: number): Promise<unknown> => {
    if (next(4) === 0) {
      model.delete(key);
      return store.delete(key).then(() => acked++);
    }
    const v = value(round);
    model.set(key, v);
    return store.put(key, v).then(() => acked++);
  };
  // About 1,000 live keys of a few hundred bytes: a list() takes more than one read.
  await Promise.all(Array.from({ length: 1000 }, (_, i) => write(`k/${i}`, 0)));
  for (let round = 1; round <= 40; round++) {
    const wave = () => Promise.all([...Array.from({ length: 50 }, () => write(`k/${next(1000)}`, round)), write(`other/${next(10)}`, round)]);
    const first = wave();
    const listed = store.list('k/'); // while writes land
    await first;
    await wave(); // in later group commits: during a compaction one of them started
    await wave();
    const { entries, revision } = await listed;
    expect(entries).toEqual(sorted(stateAt(events, revision, 'k/')));
    expect((await store.list('')).entries).toEqual(sorted(model));
  }
  // Compactions ran, and at least one had writes acknowledged while it ran.
  expect(model.size).toBeGreaterThan(500);
  expect(compactions.filter((c) => c.finished !== undefined && c.finished > c.started).length).toBeGreaterThan(0);
  await store.close();
  const reopened = await EmbeddedStore.open(dir);
  expect((await reopened.list('')).entries).toEqual(sorted(model));
  await reopened.close();
});

test('a list() across many reads while writes commit returns the store exactly at the revision it reports', async () => {
  const store = await EmbeddedStore.open(tmp());
  const events: StoreEvent[] = [];
  store.watch('', 0, (e) => events.push(e));
  const value = (i: number) => JSON.stringify({ host: `10.0.${i >> 8}.${i & 255}`, port: 8080, metadata: { version: 'stable', user: `u${i}` }, pad: 'p'.repeat(100) });
  await Promise.all(Array.from({ length: 20000 }, (_, i) => store.put(`k/${i}`, value(i)))); // about 4 MB: many reads
  const start = (await store.list('\u0000')).revision;
  let listing = true;
  const listed = store.list('k/').finally(() => (listing = false));
  let during = 0;
  for (let i = 0; listing; i++) {
    // Overwrite a key, delete one, add one: the changes spread over the keys listed early and late.
    await Promise.all([store.put(`k/${(i * 7919) % 20000}`, `changed-${i}`), store.delete(`k/${(i * 104729 + 1) % 20000}`), store.put(`k/new/${i}`, `new-${i}`)]);
    if (listing) during++;
  }
  const { entries, revision } = await listed;
  expect(during).toBeGreaterThan(0);
  expect(revision).toBeGreaterThan(start);
  expect(entries).toEqual(sorted(stateAt(events, revision, 'k/')));
  await store.close();
});

test('after a compaction the positions point into the new log: list after it, after more writes, after another compaction and after reopen', async () => {
  const dir = tmp();
  const { logger, lines } = captureLogs();
  const compacted = () => lines.filter((l) => l.includes('store: compacted')).length;
  const store = await EmbeddedStore.open(dir, { compactAfterRecords: 100, log: logger });
  const model = new Map<string, string>();
  let n = 0;
  const churn = () => Promise.all(Array.from({ length: 10 }, () => {
    const key = `k/${n % 30}`;
    const value = `${'漢'.repeat(n % 7)}value-${n++}`; // lengths differ from one write of a key to the next
    model.set(key, value);
    return store.put(key, value);
  }));
  await store.put('k/deleted', 'x');
  await store.delete('k/deleted');
  for (let pass = 1; pass <= 2; pass++) {
    while (compacted() < pass) await churn();
    expect((await store.list('')).entries).toEqual(sorted(model));
    await churn(); // appended to the compacted log
    await store.delete('k/3');
    model.delete('k/3');
    expect((await store.list('k/')).entries).toEqual(sorted(model));
  }
  await store.close();
  const reopened = await EmbeddedStore.open(dir);
  expect((await reopened.list('')).entries).toEqual(sorted(model));
  await reopened.close();
});

/** A log of `n` puts k/0..k/n-1, and the byte offset of each line. */
async function logWith(n: number): Promise<{ dir: string; file: string; offsets: number[] }> {
  const dir = tmp();
  const store = await EmbeddedStore.open(dir);
  for (let i = 0; i < n; i++) await store.put(`k/${i}`, JSON.stringify({ host: '10.0.0.1', port: 10000 + i }));
  await store.close();
  const file = path.join(dir, 'store.log');
  const offsets: number[] = [];
  fs.readFileSync(file, 'utf8').split('\n').reduce((at, line) => (offsets.push(at), at + line.length + 1), 0);
  return { dir, file, offsets };
}

function rewriteLines(file: string, edit: (lines: string[]) => void): void {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  edit(lines);
  fs.writeFileSync(file, lines.join('\n'));
}

test('a record altered on disk after open is refused by list(), naming file, byte offset, key and the repair command; records elsewhere still list', async () => {
  const { dir, file, offsets } = await logWith(5);
  const store = await EmbeddedStore.open(dir);
  rewriteLines(file, (lines) => (lines[2] = lines[2]!.replace('10002', '20002'))); // same length, wrong checksum
  const listed = store.list('');
  await expect(listed).rejects.toThrow(StoreCorruptError);
  await expect(listed).rejects.toThrow(`${file}: corrupt record at byte ${offsets[2]} for key "k/2" (checksum mismatch)`);
  await expect(listed).rejects.toThrow(`metaroute store repair --data-dir ${dir}`);
  expect((await store.list('k/4')).entries).toEqual([{ key: 'k/4', value: '{"host":"10.0.0.1","port":10004}' }]);

  // Two intact lines of one length swapped: each checksum holds, the key does not.
  rewriteLines(file, (lines) => ([lines[0], lines[1]] = [lines[1]!, lines[0]!]));
  await expect(store.list('k/0')).rejects.toThrow(`${file}: corrupt record at byte 0 for key "k/0" (the line there is a put of "k/1")`);
  // Cut short: the record is no longer there.
  fs.truncateSync(file, offsets[4]! + 10);
  await expect(store.list('k/4')).rejects.toThrow(`corrupt record at byte ${offsets[4]} for key "k/4" (the log ends before it)`);
  await store.close();
});

test('a record altered on disk fails a running compaction, which leaves the log as it was', async () => {
  const { dir, file } = await logWith(5);
  const { logger, lines } = captureLogs();
  const store = await EmbeddedStore.open(dir, { compactAfterRecords: 20, log: logger });
  rewriteLines(file, (l) => (l[1] = l[1]!.replace('10001', '20001')));
  const altered = fs.readFileSync(file, 'utf8');
  for (let i = 0; i < 30; i++) await store.put('k/0', `v${i}`); // enough records to compact
  for (let i = 0; i < 100 && !lines.some((l) => l.includes('compaction failed')); i++) await new Promise((r) => setTimeout(r, 10));
  expect(lines.find((l) => l.includes('compaction failed'))).toContain('corrupt record at byte');
  expect(fs.readFileSync(file, 'utf8').startsWith(altered)).toBe(true);
  // Each attempt rereads the whole log: the next one waits (30 s at first), not the next group commit.
  for (let i = 30; i < 90; i++) await store.put('k/0', `v${i}`);
  await new Promise((r) => setTimeout(r, 50));
  expect(lines.filter((l) => l.includes('compaction failed'))).toHaveLength(1);
  expect(lines.find((l) => l.includes('compaction failed'))).toContain('next attempt in 30 s');
  await store.close();
  expect(fs.existsSync(path.join(dir, 'store.compact'))).toBe(false);
});

test('a compaction reading many chunks keeps what is deleted, rewritten and re-added while it reads, and fails on nothing', async () => {
  const dir = tmp();
  let acked = 0;
  const { logger, compactions } = compactionWatch(() => acked);
  const store = await EmbeddedStore.open(dir, { log: logger });
  const model = new Map<string, string>();
  const put = (key: string, value: string) => {
    model.set(key, value);
    return store.put(key, value).then(() => acked++);
  };
  const value = (i: number, tag: string) => JSON.stringify({ host: `10.0.${i >> 8}.${i & 255}`, tag, pad: 'p'.repeat(1000) });
  await Promise.all(Array.from({ length: 4000 }, (_, i) => put(`k/${i}`, value(i, 'first')))); // about 4 MB live: many chunks
  // Past four records per live key a compaction starts; then keys change in waves while it reads.
  for (let pass = 0; pass < 3; pass++) await Promise.all(Array.from({ length: 4000 }, (_, i) => put(`k/${i}`, value(i, `pass-${pass}`))));
  await put('k/0', value(0, 'last'));
  for (let wave = 0; compactions.length === 0 || compactions.at(-1)!.finished === undefined; wave++) {
    if (wave > 2000) throw new Error('the compaction did not finish');
    const at = (wave * 797) % 4000;
    model.delete(`k/${at}`);
    // New keys in every fourth wave only: some freed slots stay free, others are taken again.
    await Promise.all([store.delete(`k/${at}`).then(() => acked++), put(`k/${(at + 2003) % 4000}`, `rewritten-${wave}`), wave % 4 === 0 ? put(`k/new/${wave}`, `new-${wave}`) : undefined]);
  }
  const compaction = compactions.at(-1)!;
  expect(compaction.finished! - compaction.started).toBeGreaterThan(0); // writes landed while it ran
  expect((await store.list('')).entries).toEqual(sorted(model));
  await store.close();
  const reopened = await EmbeddedStore.open(dir);
  expect((await reopened.list('')).entries).toEqual(sorted(model));
  await reopened.close();
});
