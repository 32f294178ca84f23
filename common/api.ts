/**
 * The one API contract between the renderer (or any client) and the backend.
 *
 * Transport-neutral: the same messages travel over Electron IPC and over the WebSocket of `resect serve`.
 * Every request's params are validated against its schema at the backend boundary; results are typed by the
 * same table, so the renderer's client and the backend's handlers cannot drift apart.
 *
 * Later features add methods here: one entry per method in `methods`, one per event in `events`.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------------------------
// Shared shapes

export const JobState = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type JobState = z.infer<typeof JobState>;

export const JobProgress = z.object({
  /** Units done and total (total null when unknown). */
  done: z.number(),
  total: z.number().nullable(),
  /** What a unit is ("steps", "tokens", "rows"), for display of the rate. */
  unit: z.string(),
  /** Units per second, smoothed; null until known. */
  rate: z.number().nullable(),
  /** Seconds left, null when unknown. */
  etaSeconds: z.number().nullable(),
  message: z.string().optional(),
});
export type JobProgress = z.infer<typeof JobProgress>;

export const JobInfo = z.object({
  id: z.string(),
  kind: z.string(),
  title: z.string(),
  state: JobState,
  heavy: z.boolean(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  endedAt: z.number().nullable(),
  progress: JobProgress.nullable(),
  /** Human-readable reason for failure or cancellation. */
  error: z.string().nullable(),
  /** Small JSON result the job returned (artifacts live in the workspace). */
  result: z.unknown().optional(),
  params: z.record(z.string(), z.unknown()),
  /** Process id of the worker while the job runs (null otherwise): for diagnostics and tests. */
  pid: z.number().int().nullable().optional(),
});
export type JobInfo = z.infer<typeof JobInfo>;

export const DeviceChoice = z.enum(['auto', 'cpu', 'webgpu', 'cuda', 'dml', 'coreml', 'tensorrt']);
export type DeviceChoice = z.infer<typeof DeviceChoice>;

export const Settings = z.object({
  theme: z.enum(['system', 'dark', 'light']),
  device: DeviceChoice,
  /** Intra-op threads for ONNX Runtime; 0 lets ORT choose. */
  threads: z.number().int().min(0).max(256),
  /** How many heavy jobs may run at once. */
  maxHeavyJobs: z.number().int().min(1).max(16),
});
export type Settings = z.infer<typeof Settings>;

export const WorkspaceInfo = z.object({
  path: z.string(),
  ok: z.boolean(),
  /** Set when the workspace could not be opened (missing, corrupt, not writable). */
  error: z.string().nullable(),
});
export type WorkspaceInfo = z.infer<typeof WorkspaceInfo>;

export const DeviceInfo = z.object({
  id: DeviceChoice,
  label: z.string(),
  /** Whether onnxruntime-node on this machine ships this provider. */
  available: z.boolean(),
  note: z.string().optional(),
});
export type DeviceInfo = z.infer<typeof DeviceInfo>;

// ---------------------------------------------------------------------------------------------------------------
// Methods: name → params schema, result schema

export const methods = {
  'app.info': {
    params: z.object({}),
    result: z.object({
      version: z.string(),
      mode: z.enum(['electron', 'serve']),
      platform: z.string(),
      workspace: WorkspaceInfo,
    }),
  },
  'settings.get': { params: z.object({}), result: Settings },
  'settings.update': { params: Settings.partial(), result: Settings },
  'system.devices': { params: z.object({}), result: z.array(DeviceInfo) },
  'workspace.info': { params: z.object({}), result: WorkspaceInfo },
  /** Switch to (and create if needed) another workspace folder. */
  'workspace.open': { params: z.object({ path: z.string().min(1) }), result: WorkspaceInfo },
  'jobs.list': { params: z.object({}), result: z.array(JobInfo) },
  'jobs.start': {
    params: z.object({ kind: z.string().min(1), params: z.record(z.string(), z.unknown()).default({}) }),
    result: JobInfo,
  },
  'jobs.cancel': { params: z.object({ id: z.string().min(1) }), result: JobInfo },
  'jobs.log': {
    params: z.object({ id: z.string().min(1), tail: z.number().int().positive().max(100_000).optional() }),
    result: z.object({ lines: z.array(z.string()) }),
  },
  /** Remove finished jobs from the list (their logs stay on disk). */
  'jobs.clear': { params: z.object({}), result: z.object({ removed: z.number() }) },
} as const;

export type MethodName = keyof typeof methods;
export type Params<M extends MethodName> = z.input<(typeof methods)[M]['params']>;
export type Result<M extends MethodName> = z.infer<(typeof methods)[M]['result']>;

// ---------------------------------------------------------------------------------------------------------------
// Events pushed by the backend

export const events = {
  'job.update': JobInfo,
  'job.log': z.object({ id: z.string(), line: z.string() }),
  'settings.changed': Settings,
  'workspace.changed': WorkspaceInfo,
} as const;

export type EventName = keyof typeof events;
export type EventData<E extends EventName> = z.infer<(typeof events)[E]>;

// ---------------------------------------------------------------------------------------------------------------
// Errors

export const ErrorCode = z.enum([
  'invalid_params', // the params failed validation; `details` holds the issues
  'unknown_method',
  'not_found',
  'conflict',
  'unauthorized',
  'workspace_unavailable',
  'job_failed',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ApiErrorShape = z.object({
  code: ErrorCode,
  message: z.string(),
  details: z.unknown().optional(),
});
export type ApiErrorShape = z.infer<typeof ApiErrorShape>;

/** A typed error that crosses the boundary intact: handlers throw it, clients rethrow it. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  toShape(): ApiErrorShape {
    return { code: this.code, message: this.message, details: this.details };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Wire messages (WebSocket frames and IPC payloads are these objects, JSON-encoded on the socket)

export const RequestMessage = z.object({
  type: z.literal('request'),
  id: z.number().int(),
  method: z.string(),
  params: z.unknown(),
});
export type RequestMessage = z.infer<typeof RequestMessage>;

export type ResponseMessage =
  | { type: 'response'; id: number; ok: true; result: unknown }
  | { type: 'response'; id: number; ok: false; error: ApiErrorShape };

export type EventMessage = { type: 'event'; event: EventName; data: unknown };

export type ServerMessage = ResponseMessage | EventMessage;
