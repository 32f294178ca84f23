/**
 * Messages between the backend (main) and a worker process. One worker runs one job, then exits.
 * Transport: Node IPC under `child_process.fork`, `parentPort` under Electron's `utilityProcess`.
 */
import type { Settings } from '../../common/api';

export interface StartMessage {
  type: 'start';
  jobId: string;
  kind: string;
  params: Record<string, unknown>;
  workspace: string;
  settings: Settings;
}
export interface CancelMessage {
  type: 'cancel';
}
export type ToWorker = StartMessage | CancelMessage;

export type FromWorker =
  | { type: 'progress'; done: number; total: number | null; unit: string; message?: string }
  | { type: 'log'; line: string }
  /** Streamed output (e.g. generated text): only the new text since the last one. Pushed as `job.output`, not stored. */
  | { type: 'output'; text: string }
  | { type: 'result'; value: unknown }
  | { type: 'cancelled' }
  | { type: 'error'; message: string };
