import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeRecord, encodeRecords, scanLog, scanLogFile, type LogRecord } from '../../src/store/log-format';

/** Each record's key, offset and length as a scan reports them. */
function scanned(run: (visit: (record: LogRecord, offset: number, length: number) => void) => unknown): { result: unknown; visits: string[] } {
  const visits: string[] = [];
  const result = run((record, offset, length) => visits.push(`${record.k}@${offset}+${length}`));
  return { result, visits };
}

const record = (r: number, k: string, v?: string): string => encodeRecord({ r, k, ...(v === undefined ? {} : { v }) });
const intactLines = [record(1, 'a', 'x'.repeat(300)), '\n', record(2, 'b', 'é'), record(2, 'c', 'z'), record(3, 'a')];
const intact = intactLines.join('');
/** Where line `i` of `intact` starts, in bytes. */
const startOf = (i: number): number => intactLines.slice(0, i).reduce((sum, line) => sum + Buffer.byteLength(line), 0);

const logs: Record<string, string> = {
  empty: '',
  intact,
  'torn last line': `${intact}${record(4, 'd', 'w').slice(0, 20)}`,
  'a damaged line, then more': `${intact}${record(4, 'd', 'w').replace('"w"', '"W"')}${record(5, 'e', 'v')}${record(6, 'f', 'v')}`,
  'a missing revision': `${intact}${record(9, 'd', 'w')}\n\n`,
};

describe('scanLogFile: the open-time scan, read in chunks', () => {
  for (const [name, text] of Object.entries(logs)) {
    it(`finds what scanLog finds over the whole buffer, at any chunk size: ${name}`, async () => {
      const whole = scanned((visit) => scanLog(Buffer.from(text), visit));
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-scan-')), 'store.log');
      fs.writeFileSync(file, text);
      for (const chunkBytes of [1, 7, 64, 1 << 20]) {
        const handle = await fs.promises.open(file, 'r');
        const visits: string[] = [];
        const result = await scanLogFile(handle, (record, offset, length) => visits.push(`${record.k}@${offset}+${length}`), chunkBytes).finally(() => handle.close());
        expect({ result, visits }).toEqual(whole);
      }
    });
  }

  it('reports byte offsets and lengths (multi-byte UTF-8 included), and where the intact part ends', () => {
    const size = (i: number): number => Buffer.byteLength(intactLines[i]!);
    const { result, visits } = scanned((visit) => scanLog(Buffer.from(intact), visit));
    expect(visits).toEqual([`a@0+${size(0)}`, `b@${startOf(2)}+${size(2)}`, `c@${startOf(3)}+${size(3)}`, `a@${startOf(4)}+${size(4)}`]);
    expect(result).toMatchObject({ records: 4, revision: 3, validBytes: startOf(5) });
    for (const name of ['torn last line', 'a damaged line, then more', 'a missing revision']) expect(scanLog(Buffer.from(logs[name]!)).validBytes).toBe(startOf(5));
  });

  it('a line longer than any record is damage (only counted, not held), and a tail that long is torn', async () => {
    const long = 'x'.repeat(17 * 1024 * 1024);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-scan-')), 'store.log');
    const scanFile = async (text: string) => {
      fs.writeFileSync(file, text);
      const handle = await fs.promises.open(file, 'r');
      return scanLogFile(handle, () => undefined, 1 << 20).finally(() => handle.close());
    };
    expect(await scanFile(`${intact}${long}\n${record(4, 'd', 'w')}`)).toMatchObject({ records: 4, corrupt: { line: 6, offset: startOf(5), reason: expect.stringContaining('longer than any record') }, linesAfterCorrupt: 1 });
    expect(await scanFile(`${intact}${long}`)).toMatchObject({ records: 4, validBytes: startOf(5), torn: { line: 6, bytes: long.length } });
  });

  it('reports each case as the store expects', () => {
    expect(scanLog(Buffer.from(logs['torn last line']!)).torn).toEqual({ line: 6, bytes: 20 });
    expect(scanLog(Buffer.from(logs['a damaged line, then more']!))).toMatchObject({ records: 4, corrupt: { line: 6, key: 'd' }, linesAfterCorrupt: 2 });
    expect(scanLog(Buffer.from(logs['a missing revision']!))).toMatchObject({ records: 4, corrupt: { line: 6 }, linesAfterCorrupt: 2 });
  });
});

test("encodeRecords writes a group commit's lines as encodeRecord does, one buffer, each line's byte length", () => {
  const records: LogRecord[] = [{ r: 1, k: 'a', v: 'x'.repeat(300) }, { r: 2, k: 'é/ключ', v: '{"say":"日本語 \\"quoted\\" 😀"}' }, { r: 3, k: 'a' }, { r: 4 }];
  const { bytes, lengths } = encodeRecords(records);
  const lines = records.map(encodeRecord);
  expect(bytes.toString()).toBe(lines.join(''));
  expect(lengths).toEqual(lines.map((line) => Buffer.byteLength(line)));
  const visits: string[] = [];
  expect(scanLog(bytes, (record, offset, length) => visits.push(`${record.r}@${offset}+${length}`)).corrupt).toBeUndefined();
  expect(visits).toHaveLength(4);
});
