/**
 * The workspace's transfer folders of `resect serve`: `tmp/uploads/<batch>/` (files a browser uploaded, one batch
 * per drop) and `tmp/downloads/<id>/` (finished browser exports).
 *
 * A batch lives until it is imported: discarding a batch that a queued or running job still reads (the client
 * staged a second drop while the first imports) only marks it, and it is removed when the last such job ends.
 * Folders older than a day are swept when the next transfer starts (a crash or a closed tab leaves them behind),
 * except batches a job still reads.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { JobInfo } from '../../common/api';
import { isInside, resolveUnder } from './paths';
import type { Workspace } from './workspace';

export type TransferKind = 'uploads' | 'downloads';

/** Transfer folders older than this are removed when the next one arrives. */
const TMP_MAX_AGE_MS = 24 * 3600_000;

export const TRANSFER_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function transferDir(ws: Workspace, kind: TransferKind): string {
  return path.join(ws.dir, 'tmp', kind);
}

export function newTransferId(): string {
  return randomBytes(12).toString('base64url');
}

/** The folder of one batch or download (through the one id rule: never outside `tmp/<kind>/`). */
export function transferFolder(ws: Workspace, kind: TransferKind, id: string): string {
  return resolveUnder(transferDir(ws, kind), id, kind === 'uploads' ? 'upload batch id' : 'download id');
}

const ACTIVE = new Set<JobInfo['state']>(['queued', 'running']);

/** Whether a queued or running job names a path inside `dir` in its params (an import of an upload batch). */
export function folderInUse(dir: string, jobs: readonly JobInfo[]): boolean {
  const mentions = (v: unknown): boolean =>
    typeof v === 'string' ? path.isAbsolute(v) && isInside(dir, v) : Array.isArray(v) ? v.some(mentions) : false;
  return jobs.some((j) => ACTIVE.has(j.state) && Object.values(j.params).some(mentions));
}

/** Upload batches whose removal waits for the jobs that read them, per workspace. */
const deferred = new WeakMap<Workspace, Set<string>>();

/**
 * Removes an upload batch, or defers it while a job reads it. Returns what happened; an absent batch is 'absent'.
 */
export function discardUploadBatch(ws: Workspace, id: string, jobs: readonly JobInfo[]): 'removed' | 'deferred' | 'absent' {
  const dir = transferFolder(ws, 'uploads', id);
  if (!existsSync(dir)) return 'absent';
  if (folderInUse(dir, jobs)) {
    let set = deferred.get(ws);
    if (!set) deferred.set(ws, (set = new Set()));
    set.add(id);
    return 'deferred';
  }
  rmSync(dir, { recursive: true, force: true });
  deferred.get(ws)?.delete(id);
  return 'removed';
}

/** Removes the deferred batches no job reads any more (call when a job ends). */
export function removeDeferredBatches(ws: Workspace, jobs: readonly JobInfo[]): void {
  const set = deferred.get(ws);
  if (!set) return;
  for (const id of [...set]) if (discardUploadBatch(ws, id, jobs) !== 'deferred') set.delete(id);
}

/** Removes transfer folders older than a day, keeping those a queued or running job reads. */
export function sweepTransfers(ws: Workspace, kind: TransferKind, jobs: readonly JobInfo[] = [], now = Date.now()): void {
  const dir = transferDir(ws, kind);
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    try {
      if (now - statSync(p).mtimeMs > TMP_MAX_AGE_MS && !folderInUse(p, jobs)) rmSync(p, { recursive: true, force: true });
    } catch {
      /* gone already */
    }
  }
}
