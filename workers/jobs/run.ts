/**
 * Runs one job from its start message: looks up the kind, validates params, builds the job's context and maps the
 * outcome to the worker protocol's final message. Shared by the worker process (workers/host.ts) and the
 * in-process launcher (main/jobs/in-process.ts), so both speak exactly the same protocol.
 */
import { jobRegistry } from './registry';
import type { FromWorker, StartMessage } from './protocol';
import type { JobContext } from './types';

export interface JobOutcome {
  /** The last message: result, cancelled or error. */
  final: FromWorker;
  /** The exit code a worker process reports with it: 0 after a result or a cancellation, 1 after an error. */
  code: 0 | 1;
}

export async function runStartMessage(start: StartMessage, signal: AbortSignal, send: (msg: FromWorker) => void): Promise<JobOutcome> {
  const def = jobRegistry[start.kind];
  if (!def) return { final: { type: 'error', message: `Unknown job kind: ${start.kind}` }, code: 1 };
  const parsed = def.params.safeParse(start.params);
  if (!parsed.success) return { final: { type: 'error', message: `Invalid params: ${parsed.error.message}` }, code: 1 };

  const ctx: JobContext = {
    progress: (done, total, unit, message) => send({ type: 'progress', done, total, unit, ...(message !== undefined ? { message } : {}) }),
    log: (line) => send({ type: 'log', line: String(line) }),
    output: (text) => send({ type: 'output', text: String(text) }),
    signal,
    workspace: start.workspace,
    jobId: start.jobId,
    settings: start.settings,
  };
  try {
    const value = await def.run(parsed.data, ctx);
    if (signal.aborted) return { final: { type: 'cancelled' }, code: 0 };
    return { final: { type: 'result', value: value ?? null }, code: 0 };
  } catch (e) {
    if (signal.aborted) return { final: { type: 'cancelled' }, code: 0 };
    if (e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return { final: { type: 'error', message: e instanceof Error ? e.message : String(e) }, code: 1 };
  }
}
