import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Store, StoreEntry, StoreEvent, StoreListener } from './store';

interface LogRecord {
  r: number;
  k: string;
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
 * line (a write cut short by a crash, never acknowledged) is dropped on open. The log
 * is compacted on open when it holds far more records than live keys.
 */
export class EmbeddedStore implements Store {
  private readonly data = new Map<string, string>();
  private readonly watchers = new Set<{ prefix: string; listener: StoreListener }>();
  private queue: Pending[] = [];
  private flushScheduled = false;
  private revision = 0;
  private fd: number;
  private closed = false;

  private constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    const records = this.replay();
    this.fd = fs.openSync(this.logPath, 'a');
    if (records > 64 && records > 4 * this.data.size) this.compact();
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
    if (!this.data.has(key)) return false;
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
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private append(record: LogRecord): Promise<number> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ record, done: () => resolve(record.r), fail: reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Writes and fsyncs every queued record, then applies them in order and notifies watchers. */
  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    let revision = this.revision;
    for (const p of batch) p.record.r = ++revision;
    try {
      fs.writeSync(this.fd, batch.map((p) => JSON.stringify(p.record)).join('\n') + '\n');
      fs.fsyncSync(this.fd);
    } catch (error) {
      for (const p of batch) p.fail(error as Error);
      return;
    }
    this.revision = revision;
    for (const p of batch) {
      this.apply(p.record);
      this.notify(p.record);
      p.done();
    }
  }

  private apply(record: LogRecord): void {
    if (record.v === undefined) this.data.delete(record.k);
    else this.data.set(record.k, record.v);
  }

  private notify(record: LogRecord): void {
    const event: StoreEvent = record.v === undefined
      ? { type: 'delete', key: record.k, revision: record.r }
      : { type: 'put', key: record.k, value: record.v, revision: record.r };
    for (const w of this.watchers) if (record.k.startsWith(w.prefix)) w.listener(event);
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
    // Every record carries the current revision: the embedded store keeps no history to number.
    for (const [k, v] of this.data) lines.push(JSON.stringify({ r: this.revision, k, v }));
    const fd = fs.openSync(tmp, 'w');
    fs.writeSync(fd, lines.length ? lines.join('\n') + '\n' : '');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.closeSync(this.fd);
    fs.renameSync(tmp, this.logPath);
    const dirFd = fs.openSync(this.dir, 'r');
    fs.fsyncSync(dirFd);
    fs.closeSync(dirFd);
    this.fd = fs.openSync(this.logPath, 'a');
  }
}
