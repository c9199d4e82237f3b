import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../src/log/logger';

/**
 * The server's log goes to a pipe that nobody may be reading. Here a real FIFO: writes fill it
 * (64 KiB) and then the logger's buffer; past that, lines are dropped and counted, and once the
 * reader catches up, a `log.dropped` line says how many. Nothing blocks the caller meanwhile.
 */
test('a log reader that falls behind: logging does not block, lines past the buffer are dropped and counted', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-log-'));
  const fifo = path.join(dir, 'log');
  execFileSync('mkfifo', [fifo]);
  const fd = fs.openSync(fifo, 'r+'); // read-write: opening does not wait for a reader
  const logger = createLogger('info', { fd, bufferBytes: 8192 });
  const LINES = 2000;
  const started = performance.now();
  for (let i = 0; i < LINES; i++) logger.info({ event: 'test', i, padding: 'x'.repeat(100) }, 'a line');
  expect(performance.now() - started).toBeLessThan(1000); // nothing waited for the reader (a blocked write never returns)

  const reader = fs.createReadStream(fifo);
  let text = '';
  reader.on('data', (chunk) => (text += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!text.includes('"event":"log.dropped"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  reader.destroy();
  fs.closeSync(fd);
  const records = text.trim().split('\n').map((line) => JSON.parse(line) as { event: string; i?: number; lines?: number });
  const written = records.filter((r) => r.event === 'test');
  const notice = records.find((r) => r.event === 'log.dropped');
  expect(notice).toMatchObject({ level: 'warn', lines: expect.any(Number) });
  expect(written.length).toBeGreaterThan(0);
  expect(written.length + notice!.lines!).toBe(LINES); // every line either arrived or was counted
  expect(written.map((r) => r.i)).toEqual([...written.map((r) => r.i!)].sort((a, b) => a - b)); // in order
});
