/**
 * Worker process entry (bundled to dist/worker.mjs). The backend starts one worker per job, under
 * `child_process.fork` (resect serve) or Electron's `utilityProcess` (desktop app), sends it one `start` message,
 * and may later send `cancel`. The worker runs the job from `workers/jobs/registry.ts`, reports progress, logs and
 * the result, then exits: 0 after a result or a cancellation, 1 after an error.
 */
import { jobRegistry } from './jobs/registry';
import type { FromWorker, StartMessage, ToWorker } from './jobs/protocol';
import type { JobContext } from './jobs/types';

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
  const def = jobRegistry[start.kind];
  if (!def) return finish({ type: 'error', message: `Unknown job kind: ${start.kind}` }, 1);
  const parsed = def.params.safeParse(start.params);
  if (!parsed.success) return finish({ type: 'error', message: `Invalid params: ${parsed.error.message}` }, 1);

  const ctx: JobContext = {
    progress: (done, total, unit, message) => void send({ type: 'progress', done, total, unit, ...(message !== undefined ? { message } : {}) }),
    log: (line) => void send({ type: 'log', line: String(line) }),
    output: (text) => void send({ type: 'output', text: String(text) }),
    signal: controller.signal,
    workspace: start.workspace,
    jobId: start.jobId,
    settings: start.settings,
  };
  try {
    const value = await def.run(parsed.data, ctx);
    if (controller.signal.aborted) return finish({ type: 'cancelled' }, 0);
    return finish({ type: 'result', value: value ?? null }, 0);
  } catch (e) {
    if (controller.signal.aborted) return finish({ type: 'cancelled' }, 0);
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return finish({ type: 'error', message }, 1);
  }
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
