import { silentLogger, type Logger } from '../log/logger';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { encodeRecord, scanLog, type LogRecord } from './log-format';
import { lockDataDir } from './lock';
import type { Store, StoreEntry, StoreEvent, StoreListener } from './store';

interface Pending {
  readonly record: LogRecord;
  readonly done: () => void;
  readonly fail: (error: Error) => void;
}

export interface EmbeddedStoreOptions {
  readonly log?: Logger;
  /** The log is compacted (at open and while running) once it holds this many records and 4x more than live keys. */
  readonly compactAfterRecords?: number;
}

export const LOG_FILE = 'store.log';
const COMPACT_FILE = 'store.compact';
/** A compaction writes its keys in slices of about this many bytes, yielding between them. */
const COMPACT_SLICE_BYTES = 256 * 1024;
/** Besides the record count, a log this large and 4x its live bytes is compacted (large rule documents). */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;

export class StoreCorruptError extends Error {}

export function repairCommand(dir: string): string {
  return `metaroute store repair --data-dir ${dir}`;
}

/**
 * The embedded default store: an append-only log in a data directory, one checksummed
 * JSON record per line. Writes queued while the previous batch is on its way to disk share
 * one write + fdatasync (group commit), done asynchronously, and resolve only after it, so a
 * kill -9 never loses an acknowledged write and the event loop never waits for the disk.
 * Opening refuses a damaged record (naming file, line, key and the repair command) and a
 * data directory another process holds; a torn last line (a write a crash cut short, never
 * acknowledged) is dropped with a log line. A failed write is cut back off the log and fails
 * its callers; a failed fsync closes the store (after one, the kernel may have dropped data
 * a later fsync would not report). The log is compacted while running: live keys are
 * written aside in slices, writes landing meanwhile are appended after them, and the new
 * file is renamed over the old between two group commits.
 */
export class EmbeddedStore implements Store {
  private readonly data = new Map<string, string>();
  private readonly watchers = new Set<{ prefix: string; listener: StoreListener }>();
  private readonly log: Logger;
  private readonly compactAfterRecords: number;
  private queue: Pending[] = [];
  private flushScheduled = false;
  /** Group commits and the compaction's switch-over run one at a time, in order. */
  private lane: Promise<void> = Promise.resolve();
  private revision = 0;
  private records = 0;
  private liveBytes = 0;
  private closed = false;
  /** The last queued or in-flight (not yet applied) record per key, so a delete knows whether its key will exist. */
  private readonly pending = new Map<string, LogRecord>();
  /** While a compaction runs: the records committed since it took its revision. */
  private compactionTail: LogRecord[] | undefined;
  private compacting: Promise<void> | undefined;

  private constructor(
    private readonly dir: string,
    private file: fs.FileHandle,
    private size: number,
    private readonly unlock: () => Promise<void>,
    options: EmbeddedStoreOptions,
  ) {
    this.log = options.log ?? silentLogger;
    this.compactAfterRecords = options.compactAfterRecords ?? 64;
  }

  static async open(dir: string, options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    await fs.mkdir(dir, { recursive: true });
    const unlock = await lockDataDir(dir);
    try {
      return await EmbeddedStore.load(path.resolve(dir), unlock, options);
    } catch (error) {
      await unlock();
      throw error;
    }
  }

  private static async load(dir: string, unlock: () => Promise<void>, options: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    const logPath = path.join(dir, LOG_FILE);
    await fs.rm(path.join(dir, COMPACT_FILE), { force: true }); // a compaction a crash interrupted
    const existing = await fs.readFile(logPath).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    const scan = scanLog(existing ?? Buffer.alloc(0));
    if (scan.corrupt) {
      const { line, key, reason } = scan.corrupt;
      throw new StoreCorruptError(
        `${logPath}:${line}: corrupt record${key === undefined ? '' : ` for key ${JSON.stringify(key)}`} (${reason}); ` +
          `the ${line - 1} line(s) before it are intact. Refusing to start rather than serve altered data. ` +
          `To keep them and drop this record and the ${scan.linesAfterCorrupt} after it, stop metaroute and run: ${repairCommand(dir)}`,
      );
    }
    const log = options.log ?? silentLogger;
    if (scan.torn) {
      log.warn({ event: 'store.failed' }, `store: dropped an incomplete last record at ${logPath}:${scan.torn.line} (${scan.torn.bytes} bytes without a newline: a write cut short by a crash, never acknowledged)`);
      await fs.truncate(logPath, scan.validBytes);
    }
    const file = await fs.open(logPath, 'a');
    if (!existing) await syncDirectory(dir);
    const store = new EmbeddedStore(dir, file, scan.validBytes, unlock, options);
    for (const record of scan.records) store.apply(record);
    store.records = scan.records.length;
    store.revision = scan.records.at(-1)?.r ?? 0;
    log.info({ event: 'store' }, `store: loaded ${scan.records.length} records (${store.data.size} keys, revision ${store.revision}) from ${logPath}`);
    if (scan.legacy > 0) {
      log.info({ event: 'store' }, `store: ${scan.legacy} records have no checksum (written by an older metaroute); rewriting the log with checksums`);
      await store.compact();
    } else if (store.wantsCompaction()) {
      await store.compact();
    }
    return store;
  }

  private get logPath(): string {
    return path.join(this.dir, LOG_FILE);
  }

  async list(prefix: string): Promise<{ entries: StoreEntry[]; revision: number }> {
    const entries: StoreEntry[] = [];
    for (const [key, value] of this.data) if (key.startsWith(prefix)) entries.push({ key, value });
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { entries, revision: this.revision };
  }

  /** TTLs are not the embedded store's: the registry expires ephemeral instances itself. */
  put(key: string, value: string): Promise<number> {
    return this.append({ r: 0, k: key, v: value });
  }

  async delete(key: string): Promise<boolean> {
    const last = this.pending.get(key);
    if (!(last ? last.v !== undefined : this.data.has(key))) return false;
    await this.append({ r: 0, k: key });
    return true;
  }

  watch(prefix: string, afterRevision: number, listener: StoreListener): () => void {
    if (afterRevision < this.revision) {
      // The embedded store keeps no history; a late watcher must list again.
      throw new Error(`embedded store cannot replay from revision ${afterRevision} (now ${this.revision})`);
    }
    const watcher = { prefix, listener };
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.compacting;
    await this.enqueue(() => this.flush());
    if (!this.closed) {
      this.closed = true;
      await this.file.close();
    }
    await this.unlock();
  }

  private append(record: LogRecord): Promise<number> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    this.pending.set(record.k!, record);
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ record, done: () => resolve(record.r), fail: reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate: every write of this event-loop turn joins the batch.
        void this.enqueue(() => new Promise<void>((r) => setImmediate(r)).then(() => this.flush()));
      }
    });
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.lane = this.lane.then(step);
    return this.lane;
  }

  /** Writes and syncs every queued record, then applies them all, then notifies watchers. Never rejects. */
  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const fail = (error: Error) => {
      for (const p of batch) {
        if (this.pending.get(p.record.k!) === p.record) this.pending.delete(p.record.k!);
        p.fail(error);
      }
    };
    if (this.closed) return fail(new Error('store is closed'));
    let revision = this.revision;
    for (const p of batch) p.record.r = ++revision;
    const bytes = Buffer.from(batch.map((p) => encodeRecord(p.record)).join(''));
    try {
      await writeAll(this.file, bytes);
    } catch (error) {
      // Nothing of this batch was acknowledged: cut it off so the log stays whole.
      const cut = await this.file.truncate(this.size).then(() => true, () => false);
      if (!cut) await this.closeAfterFailure(`a failed write could not be cut off the log: ${(error as Error).message}`);
      return fail(error as Error);
    }
    try {
      await this.file.datasync();
    } catch (error) {
      await this.closeAfterFailure(`fsync failed: ${(error as Error).message}`);
      return fail(new Error(`store closed: fsync failed: ${(error as Error).message}`));
    }
    this.size += bytes.length;
    this.records += batch.length;
    this.revision = revision;
    for (const p of batch) {
      this.compactionTail?.push(p.record);
      this.apply(p.record);
    }
    for (const p of batch) {
      this.notify(p.record);
      p.done();
    }
    if (!this.compacting && this.wantsCompaction()) {
      this.compacting = this.compact()
        .catch((error: Error) => this.log.warn({ event: 'store.failed' }, `store: compaction failed, the log stays as it was: ${error.message}`))
        .finally(() => (this.compacting = undefined));
    }
  }

  private async closeAfterFailure(reason: string): Promise<void> {
    this.closed = true;
    this.log.warn({ event: 'store.failed' }, `store: closed: ${reason}`);
    await this.file.close().catch(() => undefined);
  }

  private apply(record: LogRecord): void {
    const key = record.k;
    if (key === undefined) return;
    if (this.pending.get(key) === record) this.pending.delete(key);
    const old = this.data.get(key);
    if (old !== undefined) this.liveBytes -= key.length + old.length;
    if (record.v === undefined) {
      this.data.delete(key);
    } else {
      this.data.set(key, record.v);
      this.liveBytes += key.length + record.v.length;
    }
  }

  /** A watcher that throws is logged to stderr and skipped: it must not stall the store. */
  private notify(record: LogRecord): void {
    const key = record.k!;
    const event: StoreEvent = record.v === undefined
      ? { type: 'delete', key, revision: record.r }
      : { type: 'put', key, value: record.v, revision: record.r };
    for (const w of this.watchers) {
      if (!key.startsWith(w.prefix)) continue;
      try {
        w.listener(event);
      } catch (error) {
        process.stderr.write(`store watcher for ${w.prefix} failed on ${key}: ${(error as Error).message}\n`);
      }
    }
  }

  private wantsCompaction(): boolean {
    if (this.closed || this.records < this.compactAfterRecords) return false;
    return this.records > 4 * (this.data.size + 1) || (this.size > COMPACT_AFTER_BYTES && this.size > 4 * this.liveBytes);
  }

  /**
   * Rewrites the log as one record per live key plus a revision record, without holding the
   * event loop: keys are written aside in slices; records committed meanwhile are collected
   * and appended after them (replaying them again is harmless: each sets its key to what it
   * was at that revision), then the file is synced and renamed over the log between two
   * group commits.
   */
  private async compact(): Promise<void> {
    this.log.info({ event: 'store' }, `store: compacting ${this.records} records (${this.data.size} keys)`);
    const tail: LogRecord[] = [];
    this.compactionTail = tail;
    const tmpPath = path.join(this.dir, COMPACT_FILE);
    const out = await fs.open(tmpPath, 'w');
    let renamed = false;
    try {
      const base = this.revision;
      const live = (function* (data: Map<string, string>): Iterable<LogRecord> {
        for (const [k, v] of data) yield { r: base, k, v };
        yield { r: base }; // keeps the revision even when no key is left
      })(this.data);
      const written = await writeInSlices(out, live);
      await this.enqueue(async () => {
        if (this.closed) return;
        this.compactionTail = undefined;
        await writeInSlices(out, tail);
        await out.datasync();
        await fs.rename(tmpPath, this.logPath);
        renamed = true;
        try {
          await syncDirectory(this.dir);
          await this.file.close();
          this.file = await fs.open(this.logPath, 'a');
        } catch (error) {
          await this.closeAfterFailure(`reopening the compacted log failed: ${(error as Error).message}`);
          return;
        }
        const before = this.records;
        this.records = written + tail.length;
        this.size = (await this.file.stat()).size;
        this.log.info({ event: 'store' }, `store: compacted ${before} records to ${this.records} (${this.data.size} keys)`);
      });
    } finally {
      this.compactionTail = undefined;
      await out.close().catch(() => undefined);
      if (!renamed) await fs.rm(tmpPath, { force: true });
    }
  }
}

/** Encodes and writes records in slices of about COMPACT_SLICE_BYTES, yielding to the event loop between them; returns how many. */
async function writeInSlices(file: fs.FileHandle, records: Iterable<LogRecord>): Promise<number> {
  let slice = '';
  let count = 0;
  for (const record of records) {
    slice += encodeRecord(record);
    count++;
    if (slice.length >= COMPACT_SLICE_BYTES) {
      await writeAll(file, Buffer.from(slice));
      slice = '';
    }
  }
  if (slice) await writeAll(file, Buffer.from(slice));
  return count;
}

async function writeAll(file: fs.FileHandle, bytes: Buffer): Promise<void> {
  for (let written = 0; written < bytes.length; ) written += (await file.write(bytes, written)).bytesWritten;
}

/** Makes a created or renamed file's directory entry durable. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
