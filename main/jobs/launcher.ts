/**
 * How the backend starts a worker process. One small interface, two implementations: `child_process.fork` under
 * plain Node (`resect serve`, tests) and Electron's `utilityProcess` in the desktop app (main/electron/launcher.ts).
 */
import { fork } from 'node:child_process';
import type { FromWorker, ToWorker } from '../../workers/jobs/protocol';

export interface WorkerExit {
  /** Exit code, null when ended by a signal. */
  code: number | null;
  /** Signal name when known (fork gives it; utilityProcess does not). */
  signal: string | null;
}

export interface WorkerHandle {
  readonly pid: number | undefined;
  send(msg: ToWorker): void;
  /** Ends the process at once (SIGKILL where the platform has it). */
  kill(): void;
  onMessage(cb: (msg: FromWorker) => void): void;
  /** Text the worker wrote to stdout/stderr (whatever it is: crashes, native library warnings). */
  onOutput(cb: (stream: 'stdout' | 'stderr', text: string) => void): void;
  /** Called once, after the process is gone and its messages were delivered. */
  onExit(cb: (exit: WorkerExit) => void): void;
}

export interface WorkerLauncher {
  launch(opts: { jobId: string }): WorkerHandle;
}

/** Starts workers as Node child processes running `workerScript` (dist/worker.mjs). */
export class ForkLauncher implements WorkerLauncher {
  constructor(private readonly workerScript: string) {}

  launch(opts: { jobId: string }): WorkerHandle {
    const child = fork(this.workerScript, [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Not the parent's flags (test runners and loaders): a worker is a plain Node process.
      execArgv: [],
      env: { ...process.env, RESECT_JOB_ID: opts.jobId },
      serialization: 'json',
    });
    let exited = false;
    const exitCbs: ((e: WorkerExit) => void)[] = [];
    const fireExit = (e: WorkerExit) => {
      if (exited) return;
      exited = true;
      for (const cb of exitCbs) cb(e);
    };
    child.on('close', (code, signal) => fireExit({ code, signal }));
    child.on('error', (err) => {
      // Spawn failures never reach 'close' with a pid; report them as an exit.
      if (child.pid === undefined) fireExit({ code: null, signal: null });
      else process.stderr.write(`worker ${opts.jobId}: ${err.message}\n`);
    });
    return {
      pid: child.pid,
      send: (msg) => {
        if (child.connected) child.send(msg, (err) => err && undefined);
      },
      kill: () => {
        child.kill('SIGKILL');
      },
      onMessage: (cb) => child.on('message', (m) => cb(m as FromWorker)),
      onOutput: (cb) => {
        child.stdout?.setEncoding('utf8').on('data', (t: string) => cb('stdout', t));
        child.stderr?.setEncoding('utf8').on('data', (t: string) => cb('stderr', t));
      },
      onExit: (cb) => exitCbs.push(cb),
    };
  }
}
