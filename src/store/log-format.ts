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
  let records = 0;
  let offset = 0;
  let line = 0;
  let legacy = 0;
  let previous: number | undefined;
  while (offset < buffer.length) {
    line++;
    const end = buffer.indexOf(0x0a, offset);
    if (end < 0) {
      return { records, revision: previous ?? 0, validBytes: offset, legacy, corrupt: undefined, torn: { line, bytes: buffer.length - offset }, linesAfterCorrupt: 0 };
    }
    const text = buffer.toString('utf8', offset, end);
    if (text !== '') {
      const decoded = decodeRecord(text);
      const problem = decoded.ok ? revisionProblem(decoded.record, previous) : decoded;
      if (problem) {
        let after = 0;
        for (let i = end + 1; i < buffer.length; i++) if (buffer[i] === 0x0a) after++;
        return { records, revision: previous ?? 0, validBytes: offset, legacy, corrupt: { line, offset, reason: problem.reason, key: problem.key }, torn: undefined, linesAfterCorrupt: after };
      }
      if (decoded.ok) {
        if (decoded.legacy) legacy++;
        previous = decoded.record.r;
        records++;
        visit(decoded.record, offset, end + 1 - offset);
      }
    }
    offset = end + 1;
  }
  return { records, revision: previous ?? 0, validBytes: offset, legacy, corrupt: undefined, torn: undefined, linesAfterCorrupt: 0 };
}

function revisionProblem(record: LogRecord, previous: number | undefined): { reason: string; key: string | undefined } | undefined {
  if (previous === undefined || record.r === previous || record.r === previous + 1) return undefined;
  return { reason: `revision ${record.r} follows ${previous} (a record is missing or altered)`, key: record.k };
}
