/** Workers in the desktop app: Electron `utilityProcess`es (Node processes the app owns). */
import { utilityProcess } from 'electron';
import type { FromWorker, ToWorker } from '../../workers/jobs/protocol';
import type { WorkerExit, WorkerHandle, WorkerLauncher } from '../jobs/launcher';

export class UtilityProcessLauncher implements WorkerLauncher {
  constructor(private readonly workerScript: string) {}

  launch(opts: { jobId: string }): WorkerHandle {
    const child = utilityProcess.fork(this.workerScript, [], {
      stdio: 'pipe',
      serviceName: `Resect job ${opts.jobId}`,
      env: { ...process.env, RESECT_JOB_ID: opts.jobId },
    });
    let exited = false;
    const exitCbs: ((e: WorkerExit) => void)[] = [];
    child.on('exit', (code) => {
      if (exited) return;
      exited = true;
      for (const cb of exitCbs) cb({ code, signal: null });
    });
    return {
      get pid() {
        return child.pid;
      },
      send: (msg: ToWorker) => {
        if (!exited) child.postMessage(msg);
      },
      kill: () => {
        if (child.pid !== undefined) {
          try {
            process.kill(child.pid, 'SIGKILL');
            return;
          } catch {
            /* fall back below */
          }
        }
        child.kill();
      },
      onMessage: (cb) => child.on('message', (m: unknown) => cb(m as FromWorker)),
      onOutput: (cb) => {
        child.stdout?.setEncoding('utf8').on('data', (t: string) => cb('stdout', t));
        child.stderr?.setEncoding('utf8').on('data', (t: string) => cb('stderr', t));
      },
      onExit: (cb) => exitCbs.push(cb),
    };
  }
}
