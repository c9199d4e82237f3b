import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataDirInUseError } from '../store/lock';
import { repairStore } from '../store/repair';
import { CommandError, text, UsageError, type Command } from './command';

/** `metaroute store repair`: the command a corrupt-log error names. */
export const storeCommand: Command = {
  name: 'store',
  summary: 'Maintain the embedded store: `store repair --data-dir DIR` cuts a damaged log at its first bad record (stop the server first).',
  positionals: { synopsis: 'repair', min: 1, max: 1 },
  options: {
    'data-dir': { type: 'string', value: 'DIR', help: "the server's dataDir (required)" },
  },
  notes: 'exit status: 0 repaired (or nothing to repair), 1 the directory is in use or missing, 2 bad usage',
  async run(values, [action]) {
    if (action !== 'repair') throw new UsageError(`unknown action ${JSON.stringify(action)} (expected repair)`);
    const dir = text(values, 'data-dir');
    if (!dir) throw new UsageError('--data-dir is required');
    if (!isDirectory(dir)) throw new CommandError(`no data directory at ${path.resolve(dir)}`);
    try {
      process.stdout.write(`${await repairStore(dir)}\n`);
      return 0;
    } catch (error) {
      if (error instanceof DataDirInUseError || (error as NodeJS.ErrnoException).code === 'ENOENT') throw new CommandError((error as Error).message);
      throw error;
    }
  },
};

/** Whether `dir` is a directory here (not a missing path, a file, or one this user may not look into). */
function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
