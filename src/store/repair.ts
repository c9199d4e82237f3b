import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import * as path from 'node:path';
import { LOG_FILE } from './embedded';
import { scanLogFile } from './log-format';
import { lockDataDir } from './lock';

/**
 * `metaroute store repair`: cuts the embedded log at its first damaged record, keeping
 * every record before it. What is cut is saved beside the log, never just deleted. Refused
 * while a server holds the data directory.
 */
export async function repairStore(dir: string): Promise<string> {
  const unlock = await lockDataDir(dir);
  try {
    const logPath = path.join(path.resolve(dir), LOG_FILE);
    const handle = await fs.open(logPath, 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined; // a server never wrote here
      throw error;
    });
    if (!handle) return `${path.resolve(dir)} holds no store log (${LOG_FILE}): nothing to repair`;
    const scan = await scanLogFile(handle, () => undefined).finally(() => handle.close());
    const kept = `${scan.records} records (up to revision ${scan.revision})`;
    if (!scan.corrupt && !scan.torn) return `${logPath} is intact: ${kept}; nothing to repair`;
    const savedPath = `${logPath}.dropped-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await pipeline(createReadStream(logPath, { start: scan.validBytes }), createWriteStream(savedPath, { flags: 'wx' }));
    await fs.truncate(logPath, scan.validBytes);
    const dropped = scan.corrupt
      ? `line ${scan.corrupt.line}${scan.corrupt.key === undefined ? '' : ` (key ${JSON.stringify(scan.corrupt.key)})`}: ${scan.corrupt.reason}, and the ${scan.linesAfterCorrupt} line(s) after it`
      : `the incomplete last line ${scan.torn!.line}`;
    return `repaired ${logPath}: kept ${kept}; dropped ${dropped}; the dropped bytes are saved in ${savedPath}`;
  } finally {
    await unlock();
  }
}
