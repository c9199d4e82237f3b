import * as fs from 'node:fs/promises';
import * as path from 'node:path';

const LOCK_FILE = 'store.lock';
/** Directories this process holds, so a second store in the same process is refused too. */
const heldHere = new Set<string>();

export class DataDirInUseError extends Error {}

/**
 * Claims a data directory for this process: a lock file holding our pid and that process's
 * start time, created exclusively. A lock whose process no longer runs (a kill -9) is taken
 * over, and so is one whose pid now belongs to another process (a container restarted on the
 * same volume reuses small pids); a lock whose process runs refuses the start, naming the
 * directory and that process.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const dirKey = path.resolve(dir);
  const file = path.join(dirKey, LOCK_FILE);
  if (heldHere.has(dirKey)) throw new DataDirInUseError(`data directory ${dirKey} is already open in this process (pid ${process.pid})`);
  for (;;) {
    try {
      await fs.writeFile(file, `${process.pid} ${await startTime(process.pid) ?? ''}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const [pid, started] = (await fs.readFile(file, 'utf8').catch(() => '')).trim().split(' ');
    const owner = Number(pid);
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && (await running(owner, started))) {
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

async function running(pid: number, started: string | undefined): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: exists, owned by someone else
  }
  // Same pid, other start time: the pid was reused by another process.
  const now = await startTime(pid);
  return !started || now === undefined || now === started;
}

/** A process's start time (Linux /proc/PID/stat field 22), which tells a reused pid apart; undefined elsewhere. */
async function startTime(pid: number): Promise<string | undefined> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}
