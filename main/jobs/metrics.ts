/**
 * `jobs.metrics`: the training log of a `monet.train` or `sae.train` job (`<out>/metrics.jsonl`, one JSON record per line), read
 * from a byte offset so a client can poll it cheaply and a reloaded client can refill its curves from 0. The file
 * is the source of truth: it survives reloads and backend restarts, and a resumed run appends to it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { ApiError, type JobInfo } from '../../common/api';
import { isFolderId } from '../../common/ids';


/** At most this many bytes per call; `more` says when the client should ask again at once. */
export const METRICS_CHUNK = 4 << 20;

export interface MetricsPage {
  /** The file read (null when the job has no training output). */
  file: string | null;
  records: Record<string, unknown>[];
  /** Byte offset to pass as `since` next time (just after the last complete line read). */
  next: number;
  /** True when `since` was beyond the end of the file (rewritten): the records start from 0 again. */
  reset: boolean;
  /** True when more complete lines are already waiting. */
  more: boolean;
}

/** Where a training job writes: `params.out` (relative to the workspace), else `<workspace>/jobs/<id>/train`. */
export function trainOutDir(workspace: string, job: JobInfo): string {
  const out = job.params.out;
  return typeof out === 'string' && out.trim() ? path.resolve(workspace, out) : path.join(workspace, 'jobs', job.id, 'train');
}

/** The metrics file of a training job: a Monet run's output folder, or an SAE's folder `<workspace>/saes/<id>`. */
function metricsFile(workspace: string, job: JobInfo): string {
  if (job.kind === 'monet.train') return path.join(trainOutDir(workspace, job), 'metrics.jsonl');
  const id = job.params.id;
  if (job.kind === 'sae.train' && typeof id === 'string' && isFolderId(id)) return path.join(workspace, 'saes', id, 'metrics.jsonl');
  throw new ApiError('invalid_params', `Job ${job.id} is a ${job.kind} job; only monet.train and sae.train jobs have training metrics.`);
}

export function readJobMetrics(workspace: string, job: JobInfo, since = 0): MetricsPage {
  const file = metricsFile(workspace, job);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { file, records: [], next: 0, reset: since > 0, more: false };
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    const reset = since > size;
    const start = reset ? 0 : since;
    const len = Math.min(size - start, METRICS_CHUNK);
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, start + got);
      if (n === 0) break;
      got += n;
    }
    // Only complete lines: a line being appended right now is read next time.
    const end = buf.lastIndexOf(10, got - 1);
    if (end < 0) return { file, records: [], next: start, reset, more: false };
    const records: Record<string, unknown>[] = [];
    for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as unknown;
        if (r && typeof r === 'object' && !Array.isArray(r)) records.push(r as Record<string, unknown>);
      } catch {
        // A torn line left by a killed run: skip it.
      }
    }
    const next = start + end + 1;
    return { file, records, next, reset, more: len === METRICS_CHUNK && next < size };
  } finally {
    closeSync(fd);
  }
}
