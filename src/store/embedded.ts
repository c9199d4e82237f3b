import { silentLogger, type Logger } from '../log/logger';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { encodeRecord, encodeRecords, scanLog, scanLogFile, type LogRecord, type RecordVisitor } from './log-format';
import { readRecords, RecordReadError, type RecordRef } from './log-reader';
import { lockDataDir } from './lock';
import { comparator, mergeSorted, sortInSlices } from '../model/slices';
import { RecordIndex } from './record-index';
import type { Store, StoreEntry, StoreEvent, StoreListener, StorePut } from './store';

/** The records one group commit writes, and the one promise everyone waiting on them shares. */
interface GroupCommit {
  readonly records: LogRecord[];
  readonly committed: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  /** Its flush has begun: a later one (its own turn on the lane, after close() flushed it) does nothing. */
  taken: boolean;
}

export interface EmbeddedStoreOptions {
  readonly log?: Logger;
  /** The log is compacted (at open and while running) once it holds this many records and 4x more than live keys. */
  readonly compactAfterRecords?: number;
}

export const LOG_FILE = 'store.log';
const COMPACT_FILE = 'store.compact';
/** A compaction writes the records committed while it copied in slices of about this many bytes, yielding between them. */
const COMPACT_SLICE_BYTES = 256 * 1024;
/** list() and a compaction read live records about this many bytes at a time, and look at most this many keys between two yields. */
const READ_CHUNK_BYTES = 256 * 1024;
const SCAN_KEYS = 16384;
/** After a failed compaction the next waits this long, doubling per failure in a row up to the maximum. */
const COMPACT_RETRY_MS = 30_000;
const COMPACT_RETRY_MAX_MS = 600_000;
/** Besides the record count, a log this large and 4x its live bytes is compacted (large rule documents). */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;
/**
 * Records a group commit takes before writes join the next one: its encoding, index updates and
 * watch notifications are one synchronous step. Unbounded, the writes queued while a commit was
 * on its way to disk all joined the next (3,500 of a 4,000-entry batch: 8-19 ms of encoding
 * alone); 500 encode in about a millisecond. A `putAll` larger than this is one commit of its own.
 */
const MAX_COMMIT_RECORDS = 500;

export class StoreCorruptError extends Error {}

export function repairCommand(dir: string): string {
  return `metaroute store repair --data-dir ${dir}`;
}

/**
 * The embedded default store: an append-only log in a data directory, one checksummed
 * JSON record per line. Writes queued while the previous batch is on its way to disk share
 * one write + fdatasync (group commit, up to MAX_COMMIT_RECORDS; beyond, the next one), done
 * asynchronously, and resolve only after it, so a
 * kill -9 never loses an acknowledged write and the event loop never waits for the disk.
 * Opening refuses a damaged record (naming file, line, key and the repair command) and a
 * data directory another process holds; a torn last line (a write a crash cut short, never
 * acknowledged) is dropped with a log line. A failed write is cut back off the log and fails
 * its callers; a failed fsync closes the store (after one, the kernel may have dropped data
 * a later fsync would not report). Values are not kept in memory (the registry holds them
 * parsed; only putIf's keys keep their current value, to compare with): the store knows where each live key's record is in the log (`RecordIndex`), and
 * list() reads the records back in chunks, verifying each as the open-time scan does. The log
 * is compacted while running: live records are copied aside in slices, writes landing
 * meanwhile are appended after them, and the new file is renamed over the old between two
 * group commits.
 */
export class EmbeddedStore implements Store {
  private readonly watchers = new Set<{ prefix: string; listener: StoreListener }>();
  private readonly log: Logger;
  private readonly compactAfterRecords: number;
  /**
   * Group commits opened and not yet flushing, oldest first; writes queued now join the last
   * (until it holds MAX_COMMIT_RECORDS). Each one's flush is scheduled on the lane when it opens.
   */
  private readonly waiting: GroupCommit[] = [];
  /** Group commits and the compaction's switch-over run one at a time, in order. */
  private lane: Promise<void> = Promise.resolve();
  private revision = 0;
  private records = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The last queued or in-flight (not yet applied) record per key, so a delete knows whether its key will exist. */
  private readonly pending = new Map<string, LogRecord>();
  /**
   * The committed value of each key written with putIf (the rule document; undefined: absent),
   * which putIf compares with rather than reading its record back: reading and decoding a
   * 640 KB rule document held the event loop 3-5 ms. The string is the one watchers were
   * handed, which the writer keeps anyway.
   */
  private readonly conditional = new Map<string, string | undefined>();
  /** While a compaction runs: the records committed since it took its revision. */
  private compactionTail: LogRecord[] | undefined;
  private compacting: Promise<void> | undefined;
  /** Failed compactions in a row, and when the next may start. */
  private compactFailures = 0;
  private compactRetryAt = 0;
  /** The list() calls under way, each collecting the records committed under its prefix while it reads. */
  private readonly listings = new Set<{ readonly prefix: string; readonly changed: Map<string, LogRecord> }>();

  private constructor(
    private readonly dir: string,
    /** Opened for appending and reading (`a+`): writes append, reads name their position. */
    private file: fs.FileHandle,
    private readonly index: RecordIndex,
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
    const existing = await fs.open(logPath, 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    const index = new RecordIndex();
    const visit: RecordVisitor = (record, offset, length) => {
      if (record.k === undefined) return;
      if (record.v === undefined) index.delete(record.k);
      else index.set(record.k, offset, length);
    };
    const scan = existing ? await scanLogFile(existing, visit).finally(() => existing.close()) : scanLog(Buffer.alloc(0));
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
    const file = await fs.open(logPath, 'a+');
    if (!existing) await syncDirectory(dir);
    const store = new EmbeddedStore(dir, file, index, scan.validBytes, unlock, options);
    store.records = scan.records;
    store.revision = scan.revision;
    log.info({ event: 'store' }, `store: loaded ${scan.records} records (${index.size} keys, revision ${store.revision}) from ${logPath}`);
    try {
      if (scan.legacy > 0) {
        log.info({ event: 'store' }, `store: ${scan.legacy} records have no checksum (written by an older metaroute); rewriting the log with checksums`);
        await store.compact();
      } else if (store.wantsCompaction()) {
        await store.compact();
      }
    } catch (error) {
      await store.file.close().catch(() => undefined); // the caller releases the lock
      throw error;
    }
    return store;
  }

  private get logPath(): string {
    return path.join(this.dir, LOG_FILE);
  }

  /**
   * Reads the live records under the prefix back from the log, in chunks of about
   * READ_CHUNK_BYTES in log order, and sorts them by key in slices, yielding between them.
   * Writes committed meanwhile are collected and replace what was read of their keys in the
   * last turn, so the entries are the store at the revision returned.
   */
  async list(prefix: string): Promise<{ entries: StoreEntry[]; revision: number }> {
    const listing = { prefix, changed: new Map<string, LogRecord>() };
    const { changed } = listing;
    this.listings.add(listing);
    try {
      const read: StoreEntry[] = [];
      const keys = this.index.entries();
      try {
        for (let done = false; !done; ) {
          const chunk = this.nextChunk(keys, (key) => key.startsWith(prefix) && !changed.has(key));
          done = chunk.done;
          if (chunk.refs.length > 0) {
            const records = await this.read(chunk.refs);
            chunk.refs.forEach((ref, i) => read.push({ key: ref.key, value: records[i]!.v! }));
          } else if (!done) {
            await new Promise(setImmediate);
          }
        }
      } finally {
        keys.return();
      }
      const sorted = await sortInSlices(read, keyBefore); // yields: writes landing meanwhile are still collected
      // From here on one turn, so a watch from `revision` follows on without a gap.
      return { entries: changed.size === 0 ? sorted : withChanges(sorted, changed), revision: this.revision };
    } finally {
      this.listings.delete(listing);
    }
  }

  /** The next live records `keys` yields that `wanted` takes: about READ_CHUNK_BYTES of them, or SCAN_KEYS keys looked at. */
  private nextChunk(keys: Iterator<[string, number]>, wanted: (key: string, offset: number) => boolean): { refs: RecordRef[]; done: boolean } {
    const refs: RecordRef[] = [];
    let bytes = 0;
    for (let scanned = 0; scanned < SCAN_KEYS && bytes < READ_CHUNK_BYTES; scanned++) {
      const next = keys.next();
      if (next.done) return { refs, done: true };
      const [key, slot] = next.value;
      const offset = this.index.offset(slot);
      if (!wanted(key, offset)) continue;
      const length = this.index.length(slot);
      refs.push({ key, slot, offset, length });
      bytes += length;
    }
    return { refs, done: false };
  }

  /**
   * Reads records from the log the index points into now. Called in the same turn as the refs
   * were taken: a compaction swaps file and positions together, and closes the old file only
   * after reads issued on it have finished.
   */
  private async read(refs: RecordRef[]): Promise<LogRecord[]> {
    if (this.closed) throw new Error('store is closed');
    try {
      return await readRecords(this.file, refs);
    } catch (error) {
      if (error instanceof RecordReadError) {
        throw new StoreCorruptError(
          `${this.logPath}: corrupt record at byte ${error.ref.offset} for key ${JSON.stringify(error.ref.key)} (${error.reason}): ` +
            `the log was altered on disk after it was written. Refusing to serve altered data. Stop metaroute and run: ${repairCommand(this.dir)}`,
        );
      }
      if (this.closed) throw new Error('store is closed');
      throw error;
    }
  }

  async get(key: string): Promise<string | undefined> {
    for (;;) {
      const held = this.pending.get(key);
      if (held) return held.v;
      const slot = this.index.slotOf(key);
      if (slot === undefined) return undefined;
      const ref = { key, slot, offset: this.index.offset(slot), length: this.index.length(slot) };
      const [record] = await this.read([ref]);
      // A compaction that moved the record while it was read leaves the position stale: read again.
      if (this.index.slotOf(key) === slot && this.index.offset(slot) === ref.offset) return record!.v;
    }
  }

  /** TTLs are not the embedded store's: the registry expires ephemeral instances itself. */
  put(key: string, value: string): Promise<number> {
    const record: LogRecord = { r: 0, k: key, v: value };
    return this.append(record).then(() => record.r);
  }

  putIf(key: string, value: string, expected: string | undefined): Promise<number | undefined> {
    return this.whileHolding(key, expected, () => this.put(key, value), true);
  }

  /**
   * Where the key's durable record is in the log: later writes lie further on, and a compaction
   * keeps the records' order, so this orders the keys' last writes (what `revisionOf` is asked for).
   */
  revisionOf(key: string): number | undefined {
    const slot = this.index.slotOf(key);
    return slot === undefined ? undefined : this.index.offset(slot);
  }

  available(): boolean {
    return !this.closed;
  }

  async deleteIf(key: string, expected: string): Promise<boolean> {
    return (await this.whileHolding(key, expected, () => this.delete(key))) ?? false;
  }

  /**
   * Runs `write` in the turn that found `key` holding `expected` (undefined: absent); undefined
   * when it held something else. `keep`: the committed value is kept for the next such call.
   */
  private async whileHolding<T>(key: string, expected: string | undefined, write: () => Promise<T>, keep = false): Promise<T | undefined> {
    for (;;) {
      const held = this.pending.get(key);
      const kept = !held && this.conditional.has(key);
      const slot = held || kept ? undefined : this.index.slotOf(key);
      const ref = slot === undefined ? undefined : { key, slot, offset: this.index.offset(slot), length: this.index.length(slot) };
      const current = held ? held.v : kept ? this.conditional.get(key) : ref && (await this.read([ref]))[0]!.v;
      // Compared and appended in one turn, unless a write (or a compaction's move) came while it was read.
      if (ref && (this.pending.has(key) || this.index.slotOf(key) !== ref.slot || this.index.offset(ref.slot) !== ref.offset)) continue;
      if (keep && !held) this.conditional.set(key, current);
      if (current !== expected) {
        await this.enqueue(async () => undefined); // its watchers see what the key holds: the commits queued before have applied
        return undefined;
      }
      return write();
    }
  }

  /** All in one group commit: durable together or failed together. */
  putAll(puts: readonly StorePut[]): Promise<void> {
    // Checked once here: append would return a rejected promise per put, all but the last unhandled.
    if (this.closed) return Promise.reject(new Error('store is closed'));
    if (puts.length === 0) return Promise.resolve();
    const commit = this.commitFor(puts.length);
    for (const put of puts) this.append({ r: 0, k: put.key, v: put.value }, commit);
    return commit.committed;
  }

  /**
   * False when the key is absent. Behind another delete of it not yet durable, it answers once
   * that one is (false), or failed (then it deletes): "absent" is never said of a key that stays.
   */
  async delete(key: string): Promise<boolean> {
    for (;;) {
      const last = this.pending.get(key);
      if (last && last.v === undefined) {
        await this.enqueue(async () => undefined); // the commits queued before have applied
        continue;
      }
      if (!last && !this.index.has(key)) return false;
      await this.append({ r: 0, k: key });
      return true;
    }
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

  /** Also after a failure closed it: the data directory's lock is released either way. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    await this.compacting;
    // Commits opened after this step was queued flush here, in order (their own turns come after it).
    await this.enqueue(async () => {
      for (const commit of [...this.waiting]) await this.flush(commit);
    });
    if (!this.closed) {
      this.closed = true;
      await this.file.close();
    }
    await this.unlock();
  }

  /** Resolves when the group commit the record joins is durable and applied. */
  private append(record: LogRecord, commit?: GroupCommit): Promise<void> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    const joined = commit ?? this.commitFor(1);
    this.pending.set(record.k!, record);
    joined.records.push(record);
    return joined.committed;
  }

  /** The open group commit if `count` more records fit in it, else a new one (which writes then join). */
  private commitFor(count: number): GroupCommit {
    const open = this.waiting.at(-1);
    if (open && open.records.length + count <= MAX_COMMIT_RECORDS) return open;
    const commit = this.openCommit();
    this.waiting.push(commit);
    return commit;
  }

  private openCommit(): GroupCommit {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const committed = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const commit: GroupCommit = { records: [], committed, resolve, reject, taken: false };
    // setImmediate: every write of this event-loop turn joins the commit (up to its size). The
    // lane keeps commits in the order they opened.
    void this.enqueue(() => new Promise<void>((r) => setImmediate(r)).then(() => this.flush(commit)));
    return commit;
  }

  /** The step's own promise rejects if it fails; the lane goes on to the next step regardless. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const done = this.lane.then(step);
    this.lane = done.catch(() => undefined);
    return done;
  }

  /** Writes and syncs a group commit's records, then applies them all, then notifies watchers. Never rejects. */
  private async flush(commit: GroupCommit): Promise<void> {
    if (commit.taken) return;
    commit.taken = true;
    this.waiting.splice(this.waiting.indexOf(commit), 1); // the first, as the lane flushes them in order
    const batch = commit.records;
    const fail = (error: Error) => this.abandon(commit, error);
    if (this.closed) return fail(new Error('store is closed'));
    let revision = this.revision;
    for (const record of batch) record.r = ++revision;
    const { bytes, lengths } = encodeRecords(batch);
    try {
      await writeAll(this.file, bytes);
    } catch (error) {
      // Nothing of this batch was acknowledged: cut it off so the log stays whole.
      const cut = await this.file.truncate(this.size).then(() => true, () => false);
      if (!cut) await this.closeAfterFailure(`a failed write could not be cut off the log: ${(error as Error).message}`);
      // The commits queued behind it may have been decided on its records (a putIf or deleteIf
      // compared with a value still pending, a delete of a key only it wrote): they fail with it.
      for (const later of this.waiting.splice(0)) {
        later.taken = true;
        this.abandon(later, error as Error);
      }
      return fail(error as Error);
    }
    try {
      await this.file.datasync();
    } catch (error) {
      await this.closeAfterFailure(`fsync failed: ${(error as Error).message}`);
      return fail(new Error(`store closed: fsync failed: ${(error as Error).message}`));
    }
    let offset = this.size;
    this.size += bytes.length;
    this.records += batch.length;
    this.revision = revision;
    batch.forEach((record, i) => {
      this.compactionTail?.push(record);
      this.apply(record, offset, lengths[i]!);
      offset += lengths[i]!;
      for (const listing of this.listings) if (record.k!.startsWith(listing.prefix)) listing.changed.set(record.k!, record);
    });
    for (const record of batch) this.notify(record);
    commit.resolve();
    if (!this.compacting && this.wantsCompaction()) {
      this.compacting = this.compact()
        .then(() => {
          this.compactFailures = 0;
        })
        .catch((error: Error) => {
          // Each attempt reads the whole log: a damaged record must not make every group commit reread it.
          const retryMs = Math.min(COMPACT_RETRY_MS * 2 ** this.compactFailures++, COMPACT_RETRY_MAX_MS);
          this.compactRetryAt = Date.now() + retryMs;
          this.log.warn({ event: 'store.failed' }, `store: compaction failed, the log stays as it was; next attempt in ${retryMs / 1000} s: ${error.message}`);
        })
        .finally(() => (this.compacting = undefined));
    }
  }

  /** A commit that will not be written: its records are no longer pending and its callers get `error`. */
  private abandon(commit: GroupCommit, error: Error): void {
    for (const record of commit.records) if (this.pending.get(record.k!) === record) this.pending.delete(record.k!);
    commit.reject(error);
  }

  private async closeAfterFailure(reason: string): Promise<void> {
    this.closed = true;
    this.log.warn({ event: 'store.failed' }, `store: closed: ${reason}`);
    await this.file.close().catch(() => undefined);
  }

  /** A committed record, `length` bytes at `offset` of the log. */
  private apply(record: LogRecord, offset: number, length: number): void {
    const key = record.k!;
    if (this.pending.get(key) === record) this.pending.delete(key);
    if (this.conditional.has(key)) this.conditional.set(key, record.v);
    if (record.v === undefined) this.index.delete(key);
    else this.index.set(key, offset, length);
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
    if (this.closed || this.records < this.compactAfterRecords || Date.now() < this.compactRetryAt) return false;
    return this.records > 4 * (this.index.size + 1) || (this.size > COMPACT_AFTER_BYTES && this.size > 4 * this.index.liveBytes);
  }

  /**
   * Rewrites the log as one record per live key plus a revision record, without holding the
   * event loop: the live records are read from the log and written aside in slices; records
   * committed meanwhile are collected and appended after them, then the file is synced and
   * renamed over the log between two group commits, and the index's positions switch to it.
   *
   * The copied records are re-encoded at the compaction's revision rather than copied
   * verbatim: the scan at open requires revisions to rise by at most one per line (so a lost
   * line is caught), and the live records alone have gaps where overwritten and deleted ones
   * were. The tail follows at base + 1, base + 2 ... Re-encoding also gives a legacy log its
   * checksums.
   */
  private async compact(): Promise<void> {
    this.log.info({ event: 'store' }, `store: compacting ${this.records} records (${this.index.size} keys)`);
    const tail: LogRecord[] = [];
    this.compactionTail = tail;
    const base = this.revision;
    const copyEnd = this.size; // records from here on are committed during the compaction: the tail has them
    this.index.beginRelocation();
    const tmpPath = path.join(this.dir, COMPACT_FILE);
    let renamed = false;
    try {
      const out = await fs.open(tmpPath, 'w');
      try {
        let position = 0;
        let copied = 0;
        const keys = this.index.entries();
        try {
          for (let done = false; !done; ) {
            const chunk = this.nextChunk(keys, (_, offset) => offset < copyEnd);
            done = chunk.done;
            if (chunk.refs.length === 0) {
              if (!done) await new Promise(setImmediate);
              continue;
            }
            const records = await this.read(chunk.refs);
            let lines = '';
            chunk.refs.forEach((ref, i) => {
              // A key written while its record was read: its newer record is in the tail.
              if (this.index.slotOf(ref.key) !== ref.slot || this.index.offset(ref.slot) !== ref.offset) return;
              const line = encodeRecord({ r: base, k: ref.key, v: records[i]!.v });
              const length = Buffer.byteLength(line);
              this.index.relocate(ref.slot, position, length);
              position += length;
              copied++;
              lines += line;
            });
            await writeAll(out, Buffer.from(lines));
          }
        } finally {
          keys.return();
        }
        const revisionLine = Buffer.from(encodeRecord({ r: base })); // keeps the revision even when no key is left
        await writeAll(out, revisionLine);
        position += revisionLine.length;
        await this.enqueue(async () => {
          if (this.closed) return;
          this.compactionTail = undefined;
          let slice = '';
          for (const record of tail) {
            const line = encodeRecord(record);
            const length = Buffer.byteLength(line);
            const slot = record.v === undefined ? undefined : this.index.slotOf(record.k!);
            if (slot !== undefined) this.index.relocate(slot, position, length); // the key's last put in the tail wins
            position += length;
            slice += line;
            if (slice.length >= COMPACT_SLICE_BYTES) {
              await writeAll(out, Buffer.from(slice));
              slice = '';
            }
          }
          if (slice) await writeAll(out, Buffer.from(slice));
          await out.datasync();
          await fs.rename(tmpPath, this.logPath);
          renamed = true;
          let file: fs.FileHandle;
          try {
            await syncDirectory(this.dir);
            file = await fs.open(this.logPath, 'a+');
          } catch (error) {
            await this.closeAfterFailure(`reopening the compacted log failed: ${(error as Error).message}`);
            return;
          }
          // File, positions and size switch in one turn: a list() reading meanwhile reads one log or the other.
          const old = this.file;
          this.file = file;
          this.index.finishRelocation();
          this.size = position;
          const before = this.records;
          this.records = copied + 1 + tail.length;
          await old.close().catch(() => undefined);
          this.log.info({ event: 'store' }, `store: compacted ${before} records to ${this.records} (${this.index.size} keys)`);
        });
      } finally {
        await out.close().catch(() => undefined);
      }
    } finally {
      this.compactionTail = undefined;
      this.index.abandonRelocation();
      if (!renamed) await fs.rm(tmpPath, { force: true });
    }
  }
}

/** Entries sorted by key, with the keys written since they were read as they are now. */
function withChanges(sorted: StoreEntry[], changed: Map<string, LogRecord>): StoreEntry[] {
  const puts: StoreEntry[] = [];
  for (const record of changed.values()) if (record.v !== undefined) puts.push({ key: record.k!, value: record.v });
  return mergeSorted(sorted.filter((e) => !changed.has(e.key)), puts.sort(comparator(keyBefore)), keyBefore);
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

function keyBefore(a: StoreEntry, b: StoreEntry): boolean {
  return a.key < b.key;
}
