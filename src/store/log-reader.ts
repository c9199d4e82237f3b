import type { FileHandle } from 'node:fs/promises';
import { decodeRecord, type LogRecord } from './log-format';

/** Where the index says a live key's record is. */
export interface RecordRef {
  readonly key: string;
  readonly slot: number;
  readonly offset: number;
  readonly length: number;
}

/** The log does not hold, where the index says, an intact put of the key. */
export class RecordReadError extends Error {
  constructor(readonly ref: RecordRef, readonly reason: string) {
    super(`record at byte ${ref.offset} for key ${JSON.stringify(ref.key)}: ${reason}`);
  }
}

/** Records closer than this share one read (the bytes between them are read and skipped). */
const GAP_BYTES = 16 * 1024;

/**
 * Reads the puts `refs` point at and verifies each as the open-time scan does (checksum, JSON,
 * shape) and that it is a whole line holding a put of that key; returns them in `refs`' order.
 * Records near each other share one read. Every read is issued at once, so closing the file
 * meanwhile (`FileHandle.close` waits for pending operations) cannot cut one off.
 */
export async function readRecords(file: FileHandle, refs: readonly RecordRef[]): Promise<LogRecord[]> {
  const order = refs.map((_, i) => i).sort((a, b) => refs[a]!.offset - refs[b]!.offset);
  const runs: { start: number; end: number; members: number[] }[] = [];
  for (const i of order) {
    const { offset, length } = refs[i]!;
    const run = runs.at(-1);
    if (run && offset <= run.end + GAP_BYTES) {
      run.end = Math.max(run.end, offset + length);
      run.members.push(i);
    } else {
      runs.push({ start: offset, end: offset + length, members: [i] });
    }
  }
  const buffers = await Promise.all(runs.map((run) => readRange(file, run.start, run.end - run.start)));
  const records = new Array<LogRecord>(refs.length);
  runs.forEach((run, r) => {
    for (const i of run.members) records[i] = verified(refs[i]!, buffers[r]!, refs[i]!.offset - run.start);
  });
  return records;
}

function verified(ref: RecordRef, buffer: Buffer, at: number): LogRecord {
  const end = at + ref.length - 1; // the newline
  if (end >= buffer.length) throw new RecordReadError(ref, 'the log ends before it');
  if (buffer[end] !== 0x0a) throw new RecordReadError(ref, 'not a whole line');
  const decoded = decodeRecord(buffer.toString('utf8', at, end));
  if (!decoded.ok) throw new RecordReadError(ref, decoded.reason);
  const { k, v } = decoded.record;
  if (k !== ref.key || v === undefined) {
    throw new RecordReadError(ref, `the line there is ${v === undefined ? 'a delete' : 'a put'} of ${k === undefined ? 'no key' : JSON.stringify(k)}`);
  }
  return decoded.record;
}

async function readRange(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await file.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break; // the file ends here: verified() names the record cut short
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}
