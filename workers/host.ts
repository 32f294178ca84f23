/**
 * Worker process entry (bundled to dist/worker.mjs). The backend starts one worker per job, under
 * `child_process.fork` (resect serve) or Electron's `utilityProcess` (desktop app), sends it one `start` message,
 * and may later send `cancel`. The worker runs the job from `workers/jobs/registry.ts`, reports progress, logs and
 * the result, then exits: 0 after a result or a cancellation, 1 after an error.
 */
import type { FromWorker, StartMessage, ToWorker } from './jobs/protocol';
import { runStartMessage } from './jobs/run';

interface ParentPort {
  on(event: 'message', cb: (e: { data: unknown }) => void): void;
  postMessage(msg: unknown): void;
}

const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;

function send(msg: FromWorker): Promise<void> {
  if (parentPort) {
    parentPort.postMessage(msg);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(msg, undefined, undefined, () => resolve());
  });
}

function onMessage(cb: (msg: ToWorker) => void): void {
  if (parentPort) parentPort.on('message', (e) => cb(e.data as ToWorker));
  else process.on('message', (m) => cb(m as ToWorker));
}

const controller = new AbortController();
let started = false;

let finishing = false;

async function finish(msg: FromWorker, code: number): Promise<never> {
  finishing = true;
  await send(msg);
  // Under utilityProcess postMessage has no completion callback: give the message a moment to leave.
  if (parentPort) await new Promise((r) => setTimeout(r, 50));
  process.exit(code);
}

async function runJob(start: StartMessage): Promise<void> {
  const { final, code } = await runStartMessage(start, controller.signal, (msg) => void send(msg));
  return finish(final, code);
}

onMessage((msg) => {
  if (msg.type === 'start' && !started) {
    started = true;
    void runJob(msg);
  } else if (msg.type === 'cancel') {
    controller.abort(new Error('Cancelled'));
  }
});

// A worker whose backend went away has nothing left to do.
process.on('disconnect', () => {
  if (!parentPort && !finishing) process.exit(started ? 1 : 0);
});
