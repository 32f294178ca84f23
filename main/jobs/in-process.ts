/**
 * A WorkerLauncher that runs jobs inside the backend's own process, speaking the same protocol as a worker
 * (workers/jobs/run.ts). For tests and debugging only: a job that crashes or runs out of memory takes the backend
 * with it, and cancellation is cooperative (no kill), which is exactly what real workers exist to avoid.
 */
import type { Settings } from '../../common/api';
import type { FromWorker, ToWorker } from '../../workers/jobs/protocol';
import { runStartMessage } from '../../workers/jobs/run';
import type { WorkerExit, WorkerHandle, WorkerLauncher } from './launcher';

export class InProcessLauncher implements WorkerLauncher {
  /** `settings` overrides what the scheduler sends (tests pin `device: 'cpu'`, `threads: 1`). */
  constructor(private readonly settings: Partial<Settings> = {}) {}

  launch(): WorkerHandle {
    const messageCbs: ((m: FromWorker) => void)[] = [];
    const exitCbs: ((e: WorkerExit) => void)[] = [];
    const controller = new AbortController();
    // Deliver asynchronously, as a real worker's messages would arrive.
    const emit = (m: FromWorker) => setImmediate(() => messageCbs.forEach((cb) => cb(m)));
    const exit = (code: number) => setTimeout(() => exitCbs.forEach((cb) => cb({ code, signal: null })), 5);
    return {
      pid: process.pid,
      send: (msg: ToWorker) => {
        if (msg.type === 'cancel') return controller.abort(new Error('Cancelled'));
        void runStartMessage({ ...msg, settings: { ...msg.settings, ...this.settings } }, controller.signal, emit).then(({ final, code }) => {
          emit(final);
          exit(code);
        });
      },
      kill: () => controller.abort(new Error('Killed')),
      onMessage: (cb) => void messageCbs.push(cb),
      onOutput: () => undefined,
      onExit: (cb) => void exitCbs.push(cb),
    };
  }
}
