import * as fs from 'node:fs/promises';
import * as path from 'node:path';

const LOCK_FILE = 'store.lock';
/** Directories this process holds, so a second store in the same process is refused too. */
const heldHere = new Set<string>();

export class DataDirInUseError extends Error {}

/**
 * Claims a data directory for this process: a lock file holding our pid, created
 * exclusively. A lock whose process no longer runs (a kill -9) is taken over; one whose
 * process runs refuses the start, naming the directory and that process.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const dirKey = path.resolve(dir);
  const file = path.join(dirKey, LOCK_FILE);
  if (heldHere.has(dirKey)) throw new DataDirInUseError(`data directory ${dirKey} is already open in this process (pid ${process.pid})`);
  for (;;) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && running(owner)) {
      throw new DataDirInUseError(`data directory ${dirKey} is in use by process ${owner} (lock file ${file}); stop that process or give this one another dataDir`);
    }
    await fs.rm(file, { force: true }); // its process is gone: a stale lock
  }
  heldHere.add(dirKey);
  return async () => {
    heldHere.delete(dirKey);
    await fs.rm(file, { force: true });
  };
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}
