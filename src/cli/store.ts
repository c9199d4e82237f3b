import { DataDirInUseError } from '../store/lock';
import { repairStore } from '../store/repair';
import { parseArgs } from './args';

const USAGE = 'usage: metaroute store repair --data-dir DIR\n';

/** `metaroute store repair`: the command a corrupt-log error names. */
export async function runStore(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, ['data-dir']);
  const dir = flags.get('data-dir')?.[0];
  if (positional[0] !== 'repair' || positional.length > 1 || !dir) {
    process.stderr.write(USAGE);
    return 2;
  }
  try {
    process.stdout.write(`${await repairStore(dir)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof DataDirInUseError || (error as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`metaroute store repair: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}
