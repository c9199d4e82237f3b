import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/** One line of the embedded store's log. */
export interface LogRecord {
  r: number;
  /** Absent only in the revision record a compaction writes after the live keys. */
  k?: string;
  v?: string; // absent = delete
}

/** A line is `<crc32 of the JSON, 8 hex digits> <JSON>`, so a flipped bit anywhere is caught on load (zlib.crc32: Node 20.15+). */
export function encodeRecord(record: LogRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/**
 * A group commit's lines as one buffer, with each line's length in bytes. The line strings die
 * here, young: kept across the write and fsync they would outlive a young collection or two and
 * die old.
 */
export function encodeRecords(records: readonly LogRecord[]): { bytes: Buffer; lengths: number[] } {
  const lines = records.map(encodeRecord);
  return { bytes: Buffer.from(lines.join('')), lengths: lines.map((line) => Buffer.byteLength(line)) };
}

export type ScannedLine =
  | { readonly ok: true; readonly record: LogRecord; readonly legacy: boolean }
  | { readonly ok: false; readonly reason: string; readonly key: string | undefined };

const CHECKSUMMED = /^([0-9a-f]{8}) (.*)$/s;

/**
 * Decodes one complete line. A line without a checksum (`{...}`) was written before records
 * had one: accepted as `legacy` (the store rewrites the log with checksums on open).
 */
export function decodeRecord(line: string): ScannedLine {
  const m = CHECKSUMMED.exec(line);
  const json = m ? m[2]! : line;
  if (!m && !line.startsWith('{')) return { ok: false, reason: 'not a record', key: keyIn(line) };
  if (m && crc32(json) !== parseInt(m[1]!, 16)) return { ok: false, reason: 'checksum mismatch', key: keyIn(json) };
  let record: unknown;
  try {
    record = JSON.parse(json);
  } catch (error) {
    return { ok: false, reason: `unreadable JSON (${(error as Error).message})`, key: keyIn(json) };
  }
  const r = record as Partial<LogRecord> | null;
  const shapeOk = r !== null && typeof r === 'object' && Number.isSafeInteger(r.r) && r.r! >= 0 &&
    (r.k === undefined || typeof r.k === 'string') && (r.v === undefined || (typeof r.v === 'string' && r.k !== undefined));
  if (!shapeOk) return { ok: false, reason: 'not a record of this store', key: keyIn(json) };
  return { ok: true, record: r as LogRecord, legacy: !m };
}

/** The key of a damaged record, read as far as it can be, for the error message. */
function keyIn(text: string): string | undefined {
  return /"k":"((?:[^"\\]|\\.)*)"/.exec(text)?.[1];
}

export interface ScanResult {
  /** How many intact records there are before the first damaged line. */
  readonly records: number;
  /** The last intact record's revision (0 for an empty log). */
  readonly revision: number;
  /** Bytes of the leading lines that are intact. */
  readonly validBytes: number;
  readonly legacy: number;
  /** The first damaged complete line, if any. */
  readonly corrupt: { readonly line: number; readonly offset: number; readonly reason: string; readonly key: string | undefined } | undefined;
  /** An incomplete last line (no newline: a write a crash cut short, never acknowledged). */
  readonly torn: { readonly line: number; readonly bytes: number } | undefined;
  /** Lines after the first damaged one (what a repair drops besides it). */
  readonly linesAfterCorrupt: number;
}

/** Called for each intact record in log order with its line's byte offset and length (newline included). */
export type RecordVisitor = (record: LogRecord, offset: number, length: number) => void;

/**
 * Reads a log up to its first damaged line. Revisions must not go backwards and rise by at
 * most one per record (a compaction writes its keys at one revision), so a lost line in the
 * middle is caught as well as a changed one.
 */
export function scanLog(buffer: Buffer, visit: RecordVisitor = () => undefined): ScanResult {
  const scanner = new LogScanner(visit);
  scanner.push(buffer);
  return scanner.end();
}

/**
 * `scanLog` over a file read in chunks, so opening a large log never holds all of it in
 * memory (a million instances' log is hundreds of megabytes).
 */
export async function scanLogFile(handle: FileHandle, visit: RecordVisitor, chunkBytes = SCAN_CHUNK_BYTES): Promise<ScanResult> {
  const scanner = new LogScanner(visit);
  const chunk = Buffer.allocUnsafe(chunkBytes);
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(chunk, 0, chunkBytes, position);
    if (bytesRead === 0) return scanner.end();
    scanner.push(chunk.subarray(0, bytesRead));
    position += bytesRead;
  }
}

const SCAN_CHUNK_BYTES = 4 * 1024 * 1024;

/** The scan's state between chunks: a line split across two chunks is carried over whole. */
class LogScanner {
  private records = 0;
  private line = 0;
  private legacy = 0;
  private previous: number | undefined;
  /** File offset of the first byte not yet scanned. */
  private offset = 0;
  /** The start of a line whose newline has not come yet, in pieces (copies: the caller reuses its chunk), */
  private carry: Buffer[] = [];
  /** and its length; past MAX_LINE_BYTES only counted (no record is that long: the line is damaged). */
  private carryBytes = 0;
  private corrupt: ScanResult['corrupt'];
  private linesAfterCorrupt = 0;

  constructor(private readonly visit: RecordVisitor) {}

  push(chunk: Buffer): void {
    if (this.corrupt) {
      this.countLines(chunk);
      return;
    }
    let at = 0;
    if (this.carryBytes > 0) {
      const end = chunk.indexOf(0x0a);
      if (end < 0) {
        this.keep(chunk);
        return;
      }
      const length = this.carryBytes + end + 1;
      const line = this.carryBytes > MAX_LINE_BYTES ? undefined : Buffer.concat([...this.carry, chunk.subarray(0, end)]);
      this.carry = [];
      this.carryBytes = 0;
      at = end + 1;
      if (!this.scan(line, length)) {
        this.countLines(chunk.subarray(at));
        return;
      }
    }
    for (let end = chunk.indexOf(0x0a, at); end >= 0; end = chunk.indexOf(0x0a, at)) {
      const ok = this.scan(chunk.subarray(at, end), end + 1 - at);
      at = end + 1;
      if (!ok) {
        this.countLines(chunk.subarray(at));
        return;
      }
    }
    if (at < chunk.length) this.keep(chunk.subarray(at));
  }

  end(): ScanResult {
    const { records, legacy, corrupt, linesAfterCorrupt } = this;
    const revision = this.previous ?? 0;
    const torn = !corrupt && this.carryBytes > 0 ? { line: this.line + 1, bytes: this.carryBytes } : undefined;
    return { records, revision, validBytes: corrupt ? corrupt.offset : this.offset, legacy, corrupt, torn, linesAfterCorrupt };
  }

  /** One complete line (`length` bytes with its newline; `text` undefined when too long to keep); false when it is damaged. */
  private scan(text: Buffer | undefined, length: number): boolean {
    this.line++;
    if (text === undefined || text.length > 0) {
      const decoded: ScannedLine = text ? decodeRecord(text.toString('utf8')) : { ok: false, reason: `a line of ${length} bytes, longer than any record`, key: undefined };
      const problem = decoded.ok ? revisionProblem(decoded.record, this.previous) : decoded;
      if (problem) {
        this.corrupt = { line: this.line, offset: this.offset, reason: problem.reason, key: problem.key };
        return false;
      }
      if (decoded.ok) {
        if (decoded.legacy) this.legacy++;
        this.previous = decoded.record.r;
        this.records++;
        this.visit(decoded.record, this.offset, length);
      }
    }
    this.offset += length;
    return true;
  }

  private keep(bytes: Buffer): void {
    if (this.carryBytes + bytes.length <= MAX_LINE_BYTES) this.carry.push(Buffer.from(bytes));
    else this.carry = [];
    this.carryBytes += bytes.length;
  }

  private countLines(bytes: Buffer): void {
    for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) this.linesAfterCorrupt++;
  }
}

/** Longer than any record the store writes (a body is at most 1 MiB): a longer line is damage, counted but not held. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

function revisionProblem(record: LogRecord, previous: number | undefined): { reason: string; key: string | undefined } | undefined {
  if (previous === undefined || record.r === previous || record.r === previous + 1) return undefined;
  return { reason: `revision ${record.r} follows ${previous} (a record is missing or altered)`, key: record.k };
}
