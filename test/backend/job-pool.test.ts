/**
 * Issue 15, light jobs share a bounded pool: twenty light jobs (exports, previews) start at most `maxLightJobs`
 * worker processes; the rest wait queued and start, in order, as running ones end. Heavy jobs keep their own limit.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobInfo } from '../../common/api';
import type { WorkerExit, WorkerHandle, WorkerLauncher } from '../../main/jobs/launcher';
import { DEFAULT_MAX_LIGHT_JOBS, JobScheduler } from '../../main/jobs/scheduler';
import { DEFAULT_SETTINGS, Workspace } from '../../main/workspace/workspace';
import { jobRegistry } from '../../workers/jobs/registry';
import type { FromWorker } from '../../workers/jobs/protocol';

/** Workers that run until the test ends them. */
class HeldLauncher implements WorkerLauncher {
  readonly started: { jobId: string; finish: () => void }[] = [];
  launch(opts: { jobId: string }): WorkerHandle {
    let onMessage: (m: FromWorker) => void = () => {};
    let onExit: (e: WorkerExit) => void = () => {};
    const finish = () => {
      onMessage({ type: 'result', value: null });
      onExit({ code: 0, signal: null });
    };
    this.started.push({ jobId: opts.jobId, finish });
    return {
      pid: 1000 + this.started.length,
      send: () => {},
      kill: () => onExit({ code: null, signal: 'SIGKILL' }),
      onMessage: (cb) => (onMessage = cb),
      onOutput: () => {},
      onExit: (cb) => (onExit = cb),
    };
  }
}

describe('light jobs share a bounded pool', () => {
  it('starts at most the pool size of twenty light jobs, and the next ones in order as others end', async () => {
    const ws = Workspace.open(mkdtempSync(path.join(tmpdir(), 'resect-pool-')));
    const launcher = new HeldLauncher();
    const scheduler = new JobScheduler({ workspace: ws, launcher, registry: jobRegistry, emit: () => {}, settings: () => DEFAULT_SETTINGS });
    const jobs: JobInfo[] = Array.from({ length: 20 }, () => scheduler.start('demo', { light: true, steps: 1 }));
    const running = () => scheduler.list().filter((j) => j.state === 'running').map((j) => j.id);
    expect(DEFAULT_MAX_LIGHT_JOBS).toBe(4);
    expect(launcher.started.map((s) => s.jobId)).toEqual(jobs.slice(0, 4).map((j) => j.id));
    expect(running()).toHaveLength(4);
    expect(scheduler.list().filter((j) => j.state === 'queued')).toHaveLength(16);

    // A heavy job is not held behind the light ones.
    const heavy = scheduler.start('demo', { steps: 1 });
    expect(scheduler.get(heavy.id).state).toBe('running');

    launcher.started[0]!.finish();
    expect(scheduler.get(jobs[0]!.id).state).toBe('succeeded');
    expect(launcher.started.at(-1)!.jobId).toBe(jobs[4]!.id);
    expect(running().filter((id) => id !== heavy.id)).toHaveLength(4);

    // Everything finishes, never more than four light workers at once.
    for (let i = 1; i < launcher.started.length; i++) {
      launcher.started[i]!.finish();
      expect(running().filter((id) => id !== heavy.id).length).toBeLessThanOrEqual(4);
    }
    expect(jobs.every((j) => scheduler.get(j.id).state === 'succeeded')).toBe(true);
    await scheduler.shutdown();
    ws.close();
  });
});
