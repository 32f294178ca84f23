/**
 * The job scheduler: a queue of jobs persisted in the workspace, one worker process per running job.
 *
 * - Heavy jobs run `settings.maxHeavyJobs` at a time, in creation order; light jobs share their own pool of
 *   `maxLightJobs` (default 4) worker processes, so twenty exports queue instead of starting twenty processes.
 * - Progress reaches clients as `job.update` events, at most ~5 per second per job; state changes at once.
 * - Cancel: the worker is asked to stop, and killed if it has not ended after the grace period.
 * - A worker that crashes, exits non-zero or is killed from outside fails its job with the reason; nothing else
 *   is affected.
 * - Each job's log is `jobs/<id>/log.txt` in the workspace, and each line is also pushed as `job.log`.
 * - Streamed output (`ctx.output`, e.g. generated tokens) is pushed as `job.output` with only the new text; not stored.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, writeSync, closeSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { ApiError, type EventData, type EventName, type JobInfo, type Settings } from '../../common/api';
import type { JobDefinition } from '../../workers/jobs/types';
import type { FromWorker } from '../../workers/jobs/protocol';
import type { Workspace } from '../workspace/workspace';
import type { WorkerHandle, WorkerLauncher, WorkerExit } from './launcher';
import { ProgressTracker } from './progress';

export type EventSink = <E extends EventName>(event: E, data: EventData<E>) => void;

export interface SchedulerOptions {
  workspace: Workspace;
  launcher: WorkerLauncher;
  registry: Record<string, JobDefinition>;
  emit: EventSink;
  settings: () => Settings;
  /** How long a cancelled worker may take to stop before it is killed. */
  cancelGraceMs?: number;
  /** Minimum interval between progress events of one job. */
  progressIntervalMs?: number;
  /** How many light jobs may run at once (each is a worker process of its own). */
  maxLightJobs?: number;
}

/** Light jobs running at once by default: enough for an export, a generation and a preview side by side. */
export const DEFAULT_MAX_LIGHT_JOBS = 4;

interface Active {
  job: JobInfo;
  handle?: WorkerHandle;
  tracker: ProgressTracker;
  logFd: number | null;
  outcome: FromWorker | null;
  cancelRequested: boolean;
  killTimer?: NodeJS.Timeout;
  emitTimer?: NodeJS.Timeout;
  lastEmit: number;
  lastErrorLine: string | null;
  lastStderrLine: string | null;
  partial: { stdout: string; stderr: string };
}

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

function newJobId(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export class JobScheduler {
  private readonly active = new Map<string, Active>();
  private readonly grace: number;
  private readonly interval: number;
  private stopped = false;

  constructor(private readonly o: SchedulerOptions) {
    this.grace = o.cancelGraceMs ?? 5000;
    this.interval = o.progressIntervalMs ?? 200;
  }

  /** Validates params against the job kind's schema, records the job, and queues or starts it. */
  start(kind: string, rawParams: Record<string, unknown>): JobInfo {
    if (this.stopped) throw new ApiError('conflict', 'The backend is shutting down.');
    // Own keys only: a kind such as "__proto__" or "constructor" names no job (found by the API fuzz test).
    const def = Object.hasOwn(this.o.registry, kind) ? this.o.registry[kind] : undefined;
    if (!def) {
      throw new ApiError('invalid_params', `Unknown job kind: ${kind}`, {
        issues: [{ path: ['kind'], message: `Unknown job kind; known: ${Object.keys(this.o.registry).join(', ')}` }],
      });
    }
    const parsed = def.params.safeParse(rawParams);
    if (!parsed.success) {
      throw new ApiError('invalid_params', `Invalid params for job ${kind}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
        issues: parsed.error.issues.map((i) => ({ ...i, path: ['params', ...i.path] })),
      });
    }
    const params = parsed.data as Record<string, unknown>;
    const job: JobInfo = {
      id: newJobId(),
      kind,
      title: def.title(params),
      state: 'queued',
      heavy: def.heavyFor ? def.heavyFor(params) : def.heavy,
      createdAt: Date.now(),
      startedAt: null,
      endedAt: null,
      progress: null,
      error: null,
      params,
      pid: null,
    };
    this.o.workspace.jobs.insert(job);
    this.active.set(job.id, this.newActive(job));
    this.emitNow(job.id);
    this.pump();
    return this.snapshot(job);
  }

  list(): JobInfo[] {
    return this.o.workspace.jobs.list().map((j) => this.snapshot(this.active.get(j.id)?.job ?? j));
  }

  get(id: string): JobInfo {
    const a = this.active.get(id);
    if (a) return this.snapshot(a.job);
    const j = this.o.workspace.jobs.get(id);
    if (!j) throw new ApiError('not_found', `No job ${id}`);
    return j;
  }

  /** Cancels a queued job at once, or asks a running one to stop (killed after the grace period). */
  cancel(id: string): JobInfo {
    const a = this.active.get(id);
    if (!a) {
      const j = this.get(id); // not_found if absent
      return j; // already finished: cancelling is a no-op
    }
    if (a.job.state === 'queued') {
      this.finish(a, 'cancelled', 'Cancelled before it started');
      return this.snapshot(a.job);
    }
    if (!a.cancelRequested) {
      a.cancelRequested = true;
      this.appendLog(a, 'Cancel requested');
      a.handle?.send({ type: 'cancel' });
      a.killTimer = setTimeout(() => {
        this.appendLog(a, `Worker did not stop within ${this.grace} ms; killing it`);
        a.handle?.kill();
      }, this.grace);
      a.killTimer.unref?.();
    }
    return this.snapshot(a.job);
  }

  log(id: string, tail?: number): string[] {
    this.get(id);
    const file = path.join(this.o.workspace.jobDir(id), 'log.txt');
    if (!existsSync(file)) return [];
    const lines = readFileSync(file, 'utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return tail !== undefined ? lines.slice(-tail) : lines;
  }

  clear(): number {
    return this.o.workspace.jobs.clearFinished();
  }

  /** Jobs queued or running in this backend. */
  activeCount(): number {
    return this.active.size;
  }

  /** Stops every worker and marks its job failed; used when the backend shuts down or switches workspace. */
  async shutdown(reason = 'The backend stopped while the job was running'): Promise<void> {
    this.stopped = true;
    const waits: Promise<void>[] = [];
    for (const a of [...this.active.values()]) {
      if (a.handle && a.job.state === 'running') {
        waits.push(new Promise<void>((resolve) => a.handle!.onExit(() => resolve())));
        a.outcome = { type: 'error', message: reason };
        a.handle.kill();
      } else {
        this.finish(a, 'failed', reason);
      }
    }
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 3000))]);
  }

  // -------------------------------------------------------------------------------------------------------------

  private newActive(job: JobInfo): Active {
    return {
      job,
      tracker: new ProgressTracker(),
      logFd: null,
      outcome: null,
      cancelRequested: false,
      lastEmit: 0,
      lastErrorLine: null,
      lastStderrLine: null,
      partial: { stdout: '', stderr: '' },
    };
  }

  /** Starts whatever may start now (after a settings change such as maxHeavyJobs). */
  reschedule(): void {
    this.pump();
  }

  private pump(): void {
    if (this.stopped) return;
    const max = this.o.settings().maxHeavyJobs;
    const maxLight = this.o.maxLightJobs ?? DEFAULT_MAX_LIGHT_JOBS;
    let heavyRunning = 0;
    let lightRunning = 0;
    for (const a of this.active.values()) {
      if (a.job.state === 'running') {
        if (a.job.heavy) heavyRunning++;
        else lightRunning++;
      }
    }
    // Map iteration is insertion order: jobs start in the order they were queued.
    for (const a of this.active.values()) {
      if (a.job.state !== 'queued') continue;
      if (a.job.heavy) {
        if (heavyRunning >= max) continue;
        heavyRunning++;
      } else {
        if (lightRunning >= maxLight) continue;
        lightRunning++;
      }
      this.launch(a);
    }
  }

  private launch(a: Active): void {
    const job = a.job;
    job.state = 'running';
    job.startedAt = Date.now();
    try {
      const dir = this.o.workspace.jobDir(job.id);
      mkdirSync(dir, { recursive: true });
      a.logFd = openSync(path.join(dir, 'log.txt'), 'a');
    } catch (e) {
      this.finish(a, 'failed', `Could not create the job folder: ${(e as Error).message}`);
      return;
    }
    let handle: WorkerHandle;
    try {
      handle = this.o.launcher.launch({ jobId: job.id });
    } catch (e) {
      this.finish(a, 'failed', `Could not start a worker: ${(e as Error).message}`);
      return;
    }
    a.handle = handle;
    job.pid = handle.pid ?? null;
    this.appendLog(a, `Started ${job.kind} job ${job.id} in worker pid ${handle.pid ?? '?'}`);
    handle.onMessage((m) => this.onWorkerMessage(a, m));
    handle.onOutput((stream, text) => this.onWorkerOutput(a, stream, text));
    handle.onExit((e) => this.onWorkerExit(a, e));
    const settings = this.o.settings();
    handle.send({ type: 'start', jobId: job.id, kind: job.kind, params: job.params, workspace: this.o.workspace.dir, settings });
    this.persist(a);
    this.emitNow(job.id);
  }

  private onWorkerMessage(a: Active, m: FromWorker): void {
    // utilityProcess learns its pid after spawning.
    if (a.job.pid == null && a.handle?.pid !== undefined) a.job.pid = a.handle.pid;
    switch (m.type) {
      case 'progress':
        if (a.job.state !== 'running') return;
        a.job.progress = a.tracker.update(m.done, m.total, m.unit, m.message);
        this.emitThrottled(a);
        return;
      case 'log':
        this.appendLog(a, m.line);
        return;
      case 'output':
        // Streamed text goes straight to clients: not throttled, not stored (the job's log and result keep it).
        if (a.job.state === 'running' && m.text) this.o.emit('job.output', { id: a.job.id, text: m.text });
        return;
      case 'error':
        a.lastErrorLine = m.message;
        if (!a.outcome) a.outcome = m;
        return;
      case 'result':
      case 'cancelled':
        if (!a.outcome) a.outcome = m;
        return;
    }
  }

  private onWorkerOutput(a: Active, stream: 'stdout' | 'stderr', text: string): void {
    const buf = a.partial[stream] + text;
    const lines = buf.split('\n');
    a.partial[stream] = lines.pop() ?? '';
    for (const line of lines) this.outputLine(a, stream, line);
  }

  private outputLine(a: Active, stream: 'stdout' | 'stderr', line: string): void {
    if (line.trim() === '') return;
    const t = line.trim();
    // Remember the line that best explains a crash: the last one that names an error, not stack frames or
    // Node's version footer.
    if (stream === 'stderr' && !/^at\s/.test(t) && !/^Node\.js v\d/.test(t)) {
      a.lastStderrLine = t;
      if (/error|fatal|abort|out of memory|killed|segmentation/i.test(t)) a.lastErrorLine = t;
    }
    this.appendLog(a, `[${stream}] ${line}`);
  }

  private onWorkerExit(a: Active, e: WorkerExit): void {
    for (const s of ['stdout', 'stderr'] as const) if (a.partial[s]) this.outputLine(a, s, a.partial[s]);
    clearTimeout(a.killTimer);
    const o = a.outcome;
    if (o?.type === 'result') {
      a.job.result = o.value;
      this.finish(a, 'succeeded', null);
    } else if (o?.type === 'cancelled' || (a.cancelRequested && o?.type !== 'error')) {
      this.finish(a, 'cancelled', e.code === 0 ? 'Cancelled' : 'Cancelled (the worker was stopped)');
    } else if (o?.type === 'error') {
      this.finish(a, 'failed', o.message);
    } else {
      const how = e.signal ? `was killed by signal ${e.signal}` : `exited with code ${e.code ?? 'unknown'}`;
      const line = a.lastErrorLine ?? a.lastStderrLine;
      const last = line ? `; last error: ${line}` : '';
      this.finish(a, 'failed', `The worker process ${how} before the job finished${last}`);
    }
    this.pump();
  }

  private finish(a: Active, state: 'succeeded' | 'failed' | 'cancelled', error: string | null): void {
    const job = a.job;
    if (FINISHED.has(job.state)) return;
    job.state = state;
    job.error = error;
    job.endedAt = Date.now();
    job.pid = null;
    this.appendLog(a, state === 'succeeded' ? 'Succeeded' : `${state === 'failed' ? 'Failed' : 'Cancelled'}: ${error ?? ''}`);
    if (a.logFd !== null) {
      try {
        closeSync(a.logFd);
      } catch {
        /* ignore */
      }
      a.logFd = null;
    }
    clearTimeout(a.emitTimer);
    this.active.delete(job.id);
    this.persist(a);
    this.o.emit('job.update', this.snapshot(job));
  }

  private appendLog(a: Active, line: string): void {
    for (const l of line.split('\n')) {
      if (a.logFd !== null) {
        try {
          writeSync(a.logFd, `${l}\n`);
        } catch {
          /* a full disk must not take the backend down */
        }
      }
      this.o.emit('job.log', { id: a.job.id, line: l });
    }
  }

  private persist(a: Active): void {
    try {
      this.o.workspace.jobs.save(a.job);
    } catch (e) {
      process.stderr.write(`Could not save job ${a.job.id}: ${(e as Error).message}\n`);
    }
  }

  private emitNow(id: string): void {
    const a = this.active.get(id);
    if (!a) return;
    clearTimeout(a.emitTimer);
    a.emitTimer = undefined;
    a.lastEmit = Date.now();
    this.o.emit('job.update', this.snapshot(a.job));
  }

  private emitThrottled(a: Active): void {
    if (a.emitTimer) return;
    const wait = a.lastEmit + this.interval - Date.now();
    if (wait <= 0) {
      this.persist(a);
      this.emitNow(a.job.id);
      return;
    }
    a.emitTimer = setTimeout(() => {
      a.emitTimer = undefined;
      if (this.active.has(a.job.id)) {
        this.persist(a);
        this.emitNow(a.job.id);
      }
    }, wait);
  }

  private snapshot(job: JobInfo): JobInfo {
    return structuredClone(job);
  }
}
