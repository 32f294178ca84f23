/**
 * One backend per workspace: `backend.lock` holds the pid of the backend using it. A second backend (another
 * `resect serve`, or the desktop app) is refused with a clear error instead of both scheduling jobs and marking
 * each other's running jobs failed. A lock whose process is gone (a crash, SIGKILL) is taken over.
 */
import { openSync, writeSync, closeSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ApiError } from '../../common/api';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface WorkspaceLock {
  release(): void;
}

export function lockWorkspace(dir: string): WorkspaceLock {
  const file = path.join(dir, 'backend.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return {
        release: () => {
          try {
            if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
          } catch {
            /* already gone */
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ApiError('workspace_unavailable', `The workspace ${dir} cannot be used: ${(e as Error).message}`, { path: dir });
      }
      let holder = NaN;
      try {
        holder = Number(readFileSync(file, 'utf8').trim());
      } catch {
        /* unreadable: treat as stale */
      }
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new ApiError(
          'workspace_unavailable',
          `The workspace ${dir} is in use by another Resect backend (pid ${holder}). Close it, or choose another workspace.`,
          { path: dir, pid: holder },
        );
      }
      rmSync(file, { force: true }); // stale
    }
  }
  throw new ApiError('workspace_unavailable', `The workspace ${dir} cannot be locked`, { path: dir });
}
