/** What a job kind is: how the backend schedules it and how a worker runs it. */
import type { z } from 'zod';
import type { Settings } from '../../common/api';

export interface JobContext {
  /** Report progress: `done` of `total` units (total null when unknown). Cheap; call as often as you like. */
  progress(done: number, total: number | null, unit: string, message?: string): void;
  /** One line for the job's log (kept in `jobs/<id>/log.txt`, streamed to the UI). */
  log(line: string): void;
  /**
   * Streamed output (generated tokens): only the new text. Reaches clients as `job.output` events at once; it is not
   * kept (log what should be kept). Optional so bare test contexts need not provide it.
   */
  output?(text: string): void;
  /** Aborted when the user cancels. Check it between steps; throw `signal.reason` or return early. */
  signal: AbortSignal;
  /** Absolute path of the workspace folder. */
  workspace: string;
  /** This job's id; its folder is `<workspace>/jobs/<id>/`. */
  jobId: string;
  settings: Settings;
}

export interface JobDefinition<S extends z.ZodType = z.ZodType> {
  /** Heavy jobs queue (settings.maxHeavyJobs at a time); light jobs start at once. */
  heavy: boolean;
  /** Optional per-params override of `heavy`. */
  heavyFor?(params: z.output<S>): boolean;
  /** Title shown in the job list. */
  title(params: z.output<S>): string;
  /** Params, validated by the backend before the job is queued. */
  params: S;
  /** Runs in the worker process. Its return value (small JSON) becomes the job's `result`. */
  run(params: z.output<S>, ctx: JobContext): Promise<unknown>;
}

/** Identity helper that keeps the params type flowing from the schema into title/run. */
export function defineJob<S extends z.ZodType>(def: JobDefinition<S>): JobDefinition<S> {
  return def;
}
