import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Store, StoreEntry, StoreEvent, StoreListener } from './store';

interface LogRecord {
  r: number;
  /** Absent only in the revision record a compaction ends with. */
  k?: string;
  v?: string; // absent = delete
}

interface Pending {
  readonly record: LogRecord;
  readonly done: () => void;
  readonly fail: (error: Error) => void;
}

const LOG_FILE = 'store.log';
const COMPACT_FILE = 'store.compact';

/**
 * The embedded default store: an append-only log of JSON lines in a data directory.
 * Writes queued in one event-loop turn share one write + fsync (group commit) and
 * resolve only after it, so a kill -9 never loses an acknowledged write. A torn last
 * line (a write cut short by a crash, never acknowledged) is dropped on open. A failed
 * write is cut back off the log and fails its callers; a failed fsync closes the store
 * (after one, the kernel may have dropped data a later fsync would not report). The log
 * is compacted on open when it holds far more records than live keys.
 */
export class EmbeddedStore implements Store {
  private readonly data = new Map<string, string>();
  private readonly watchers = new Set<{ prefix: string; listener: StoreListener }>();
  private queue: Pending[] = [];
  private flushScheduled = false;
  private revision = 0;
  private fd: number;
  private size: number;
  private closed = false;
  /** Keys whose last queued (not yet flushed) write is a put (true) or a delete (false). */
  private readonly queuedPuts = new Map<string, boolean>();

  private constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    const existed = fs.existsSync(this.logPath);
    const records = this.replay();
    this.fd = fs.openSync(this.logPath, 'a');
    if (!existed) syncDirectory(dir);
    if (records > 64 && records > 4 * this.data.size) this.compact();
    this.size = fs.fstatSync(this.fd).size;
  }

  static open(dir: string): EmbeddedStore {
    return new EmbeddedStore(dir);
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

  put(key: string, value: string): Promise<number> {
    return this.append({ r: 0, k: key, v: value });
  }

  async delete(key: string): Promise<boolean> {
    if (!(this.queuedPuts.get(key) ?? this.data.has(key))) return false;
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
    await this.flush();
    if (this.closed) return; // the flush failed its fsync and closed the store
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private append(record: LogRecord): Promise<number> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    this.queuedPuts.set(record.k!, record.v !== undefined);
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ record, done: () => resolve(record.r), fail: reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Writes and fsyncs every queued record, then applies them all, then notifies watchers. */
  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    this.queuedPuts.clear();
    if (batch.length === 0 || this.closed) {
      for (const p of batch) p.fail(new Error('store is closed'));
      return;
    }
    let revision = this.revision;
    for (const p of batch) p.record.r = ++revision;
    const bytes = Buffer.from(batch.map((p) => JSON.stringify(p.record)).join('\n') + '\n');
    try {
      for (let written = 0; written < bytes.length; ) written += fs.writeSync(this.fd, bytes, written);
    } catch (error) {
      // Nothing of this batch was acknowledged: cut it off so the log stays whole.
      fs.ftruncateSync(this.fd, this.size);
      for (const p of batch) p.fail(error as Error);
      return;
    }
    try {
      fs.fsyncSync(this.fd);
    } catch (error) {
      this.closed = true;
      fs.closeSync(this.fd);
      for (const p of batch) p.fail(new Error(`store closed: fsync failed: ${(error as Error).message}`));
      return;
    }
    this.size += bytes.length;
    this.revision = revision;
    for (const p of batch) this.apply(p.record);
    for (const p of batch) {
      this.notify(p.record);
      p.done();
    }
  }

  private apply(record: LogRecord): void {
    if (record.k === undefined) return;
    if (record.v === undefined) this.data.delete(record.k);
    else this.data.set(record.k, record.v);
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

  /** Loads the log; returns how many records it held. */
  private replay(): number {
    let text: string;
    try {
      text = fs.readFileSync(this.logPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    const lines = text.split('\n');
    let count = 0;
    let validBytes = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const complete = i < lines.length - 1; // the last piece has no newline: never acknowledged
      if (!complete || line === '') {
        if (complete) validBytes += 1;
        continue;
      }
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        throw new Error(`${this.logPath}: corrupt record on line ${i + 1}`);
      }
      this.apply(record);
      this.revision = record.r;
      count++;
      validBytes += Buffer.byteLength(line) + 1;
    }
    if (validBytes < Buffer.byteLength(text)) fs.truncateSync(this.logPath, validBytes);
    return count;
  }

  /** Rewrites the log as one record per live key: written aside, fsynced, then renamed over. */
  private compact(): void {
    const tmp = path.join(this.dir, COMPACT_FILE);
    const lines: string[] = [];
    // Every record carries the current revision (the store keeps no history to number), and a
    // final revision record keeps it even when no key is left.
    for (const [k, v] of this.data) lines.push(JSON.stringify({ r: this.revision, k, v }));
    lines.push(JSON.stringify({ r: this.revision }));
    const fd = fs.openSync(tmp, 'w');
    fs.writeSync(fd, lines.join('\n') + '\n');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.closeSync(this.fd);
    fs.renameSync(tmp, this.logPath);
    syncDirectory(this.dir);
    this.fd = fs.openSync(this.logPath, 'a');
  }
}

/** Makes a created or renamed file's directory entry durable. */
function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}
