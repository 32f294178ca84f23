/**
 * Atomic file writes: every artifact Resect writes goes through `atomicWrite`, so a crash or a full disk never
 * leaves a half-written file in place of a good one.
 *
 * Steps: write to a temporary file in the same folder (same file system, so rename is atomic), fsync it,
 * rename it over the destination, fsync the folder so the rename itself is durable. On any failure the temporary
 * file is removed and the destination keeps its old content.
 */
import { promises as fsp, openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export type AtomicData = string | Uint8Array | readonly Uint8Array[];

function tempPathFor(dest: string): string {
  return path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

function chunks(data: AtomicData): Uint8Array[] {
  if (typeof data === 'string') return [Buffer.from(data, 'utf8')];
  if (data instanceof Uint8Array) return [data];
  return [...data];
}

function checked(chunk: unknown): Uint8Array {
  if (!(chunk instanceof Uint8Array)) throw new TypeError('atomicWrite: every chunk must be a Uint8Array');
  return chunk;
}

/** fsync a directory; a no-op where the platform cannot open folders (Windows). */
async function fsyncDir(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    await handle?.close();
  }
}

export async function atomicWrite(dest: string, data: AtomicData): Promise<void> {
  const tmp = tempPathFor(dest);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(tmp, 'wx', 0o644);
    for (const c of chunks(data)) {
      const chunk = checked(c);
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, dest);
  } catch (e) {
    await handle?.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  await fsyncDir(path.dirname(dest));
}

/** Synchronous twin of `atomicWrite`, for small files written where an async step is not possible. */
export function atomicWriteSync(dest: string, data: AtomicData): void {
  const tmp = tempPathFor(dest);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    for (const c of chunks(data)) {
      const chunk = checked(c);
      let off = 0;
      while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, dest);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
    throw e;
  }
  try {
    const dfd = openSync(path.dirname(dest), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* folders cannot be fsynced on every platform */
  }
}
