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
import {
  ExportJobParamsSchema,
  ImportJobParamsSchema,
  MappingSchema,
  PreviewParamsSchema,
  SampleFilterSchema,
  SamplePageQuerySchema,
} from '../workers/data/schema';
import { resectionEvents, resectionMethods } from '../workers/analysis/resection/schema';

/** Rows of the domain-masking experiment, as the `resection.experiment` job returns them, and how to read them. */
export { mostAffectedOther, type DomainMaskingRow, type DomainMaskingSummary, type DomainMaskingIntervals, type DrawSummary, type RatioInterval, type ExperimentJobParams } from '../workers/analysis/resection/schema';
import { atlasMethods } from '../workers/analysis/atlas/schema';
import { saeTrainMethods } from '../workers/sae/train-options';
import { saeToolMethods } from '../workers/sae/eval-schema';

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
// Datasets (workers/data; see docs/datasets.md)

export const DataFormat = z.enum(['jsonl', 'json', 'csv', 'tsv', 'parquet', 'txt']);

export const DomainCount = z.object({ domain: z.string().nullable(), samples: z.number(), chars: z.number(), tokens: z.number() });
export type DomainCount = z.infer<typeof DomainCount>;

export const DatasetInfo = z.object({
  id: z.number().int(),
  name: z.string(),
  createdAt: z.number(),
  source: z.string(),
  samples: z.number(),
  chars: z.number(),
  /** Token estimate: ceil(chars / 4) per sample, summed. */
  tokens: z.number(),
  sourceBytes: z.number(),
  domains: z.array(DomainCount),
  scoreNames: z.array(z.string()),
  mapping: MappingSchema.nullable(),
});
export type DatasetInfo = z.infer<typeof DatasetInfo>;

export const ImportIssue = z.object({
  kind: z.enum(['parse', 'encoding', 'mapping', 'empty-file', 'unsupported', 'io', 'binary']),
  file: z.string(),
  line: z.number().optional(),
  column: z.number().optional(),
  offset: z.number().optional(),
  message: z.string(),
});
export type ImportIssue = z.infer<typeof ImportIssue>;

/** The import report kept with a dataset (first 100 issues), or a job's summary of it. */
export const ImportReport = z.object({
  imported: z.number(),
  records: z.number(),
  skippedErrors: z.number(),
  duplicates: z.number(),
  blank: z.number(),
  issues: z.array(ImportIssue),
  issueCounts: z.record(z.string(), z.number()),
  durationMs: z.number(),
  bytesTotal: z.number().optional(),
  files: z.array(z.object({ file: z.string(), format: DataFormat, bytes: z.number(), records: z.number(), imported: z.number() })).optional(),
});
export type ImportReport = z.infer<typeof ImportReport>;

export const Sample = z.object({
  id: z.number().int(),
  datasetId: z.number().int(),
  text: z.string(),
  domain: z.string().nullable(),
  scores: z.record(z.string(), z.number()).nullable(),
  chars: z.number(),
  tokens: z.number(),
  origin: z.object({ file: z.string(), line: z.number() }).nullable(),
});
export type Sample = z.infer<typeof Sample>;

export const Detection = z.object({
  shape: z.enum(['text', 'instruction', 'chat', 'prompt-continuation', 'unknown']),
  confidence: z.number(),
  mapping: MappingSchema,
  fields: z.array(z.string()),
  sampled: z.number(),
  reason: z.string(),
});

export const PreviewResult = z.object({
  detection: Detection,
  mapping: MappingSchema,
  samples: z.array(
    z.object({ text: z.string(), domain: z.string().nullable(), scores: z.record(z.string(), z.number()).nullable(), file: z.string(), line: z.number() }),
  ),
  files: z.array(z.object({ file: z.string(), format: DataFormat, bytes: z.number() })),
  formats: z.record(z.string(), z.object({ files: z.number(), bytes: z.number() })),
  skippedFiles: z.array(z.string()),
  issues: z.array(ImportIssue),
  totalBytes: z.number(),
  /** Why nothing can be imported (the file's own problem, e.g. "footer != PAR1"), when no record could be read. */
  refused: z.string().nullable().default(null),
});
export type PreviewResult = z.infer<typeof PreviewResult>;

export const DatasetFilter = SampleFilterSchema;
export type DatasetFilter = z.infer<typeof DatasetFilter>;
export { MappingSchema as DatasetMapping };
export type DatasetMapping = z.infer<typeof MappingSchema>;

const DomainLabel = z.string().trim().min(1).max(200).nullable();
const SampleIds = z.array(z.number().int().positive()).min(1).max(100_000);

// ---------------------------------------------------------------------------------------------------------------
// Models (main/models; see docs/models-view.md)

/** What a Monet checkpoint is, from config.json and the safetensors headers (nothing loaded). */
export const ModelSummary = z.object({
  decompose: z.enum(['vertical', 'horizontal']),
  layers: z.number(),
  hiddenSize: z.number(),
  attentionHeads: z.number(),
  experts: z.number(),
  expertDim: z.number(),
  routingHeads: z.number(),
  topk: z.number(),
  groups: z.number(),
  routerLayers: z.array(z.number()),
  vocabSize: z.number(),
  maxPositions: z.number(),
  parameters: z.number(),
  bytesOnDisk: z.number(),
  /** Tensor count per stored dtype. */
  dtypes: z.record(z.string(), z.number()),
});
export type ModelSummary = z.infer<typeof ModelSummary>;

export const ModelInfo = z.object({
  /** `default` for the embedded default model. */
  id: z.string(),
  name: z.string(),
  /** Absolute folder on the backend's machine (what jobs take as `model`). */
  path: z.string(),
  builtin: z.boolean(),
  addedAt: z.number().nullable(),
  /** Null when the folder cannot be opened any more; `error` says why. */
  summary: ModelSummary.nullable(),
  error: z.string().nullable(),
  tokenizer: z.enum(['tokenizer.json', 'tokenizer.model']).nullable(),
  /**
   * The memory the model takes once opened, estimated from the headers before opening (workers/models/monet/memory.ts),
   * against what the backend's machine has available now; `message` says what to do when it will not fit. Null when
   * the folder cannot be inspected.
   */
  memory: z.object({
    dtypeInUse: z.string(),
    weightBytes: z.number(),
    peakBytes: z.number(),
    availableBytes: z.number(),
    fits: z.boolean(),
    message: z.string().nullable(),
  }).nullable().default(null),
  /** Labelled text shipped with the model (the embedded default model's corpus), for evaluations; else null. */
  corpus: z.object({ heldout: z.string(), train: z.string().nullable() }).nullable(),
  /**
   * The edit an exported folder carries (resect_masks.safetensors + resect_recipe.json), which Resect applies whenever
   * it opens the folder unless `applied` is false ("open without the edit"); null when the folder carries none.
   */
  edit: z.object({
    /** (layer, composite expert) pairs removed. */
    removed: z.number(),
    applied: z.boolean(),
    /** Names of the edits it was made of, from the recipe. */
    edits: z.array(z.string()),
    exportedAt: z.string().nullable(),
    /** Whether the recipe records before/after figures measured for this edit. */
    evaluated: z.boolean(),
    /** The recorded evaluation's headline: the target domain's relative perplexity increase and the others' mean. */
    measured: z.object({ target: z.string().nullable(), targetRelIncrease: z.number().nullable(), othersMeanRelIncrease: z.number().nullable() }).nullable().default(null),
    /** Set when the masks file cannot be read. */
    error: z.string().nullable(),
  }).nullable().default(null),
});
export type ModelInfo = z.infer<typeof ModelInfo>;
export type ShippedCorpus = NonNullable<ModelInfo['corpus']>;

export const ModelDetails = ModelInfo.extend({
  /** config.json as stored. */
  config: z.record(z.string(), z.unknown()),
  /** Keys absent from config.json that took a code default. */
  defaulted: z.array(z.string()),
  derived: z
    .object({ headDim: z.number(), routerLayers: z.array(z.number()), sigmaStar: z.number(), compositeExperts: z.number(), routers: z.number() })
    .nullable(),
  files: z.array(z.object({ name: z.string(), bytes: z.number() })),
  unusedTensors: z.array(z.string()),
});
export type ModelDetails = z.infer<typeof ModelDetails>;


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
  /**
   * Training records of a `monet.train` or `sae.train` job (`<out>/metrics.jsonl`: start/resume, step, eval, checkpoint, end), read
   * from byte offset `since` (0: from the start); pass `next` back to get only new records. `reset`: the file was
   * rewritten, the records start over. `more`: call again at once.
   */
  'jobs.metrics': {
    params: z.object({ id: z.string().min(1), since: z.number().int().min(0).optional() }),
    result: z.object({
      file: z.string().nullable(),
      records: z.array(z.record(z.string(), z.unknown())),
      next: z.number().int(),
      reset: z.boolean(),
      more: z.boolean(),
    }),
  },

  // Datasets ----------------------------------------------------------------------------------------------------
  'datasets.list': { params: z.object({}), result: z.array(DatasetInfo) },
  /** One dataset with the report of its import. */
  'datasets.get': {
    params: z.object({ id: z.number().int().positive() }),
    result: DatasetInfo.extend({ report: ImportReport.nullable() }),
  },
  /** Detection, mapping and the first samples of files on the backend's machine (uploads: their `path`). Writes nothing. */
  'datasets.preview': { params: PreviewParamsSchema, result: PreviewResult },
  /** Starts a `dataset.import` job. */
  'datasets.import': { params: ImportJobParamsSchema, result: JobInfo },
  /**
   * A page of samples (keyset: pass `next` back as `cursor`). `offset` (instead of a cursor) starts the page at a
   * position of the filtered, sorted view: for a virtual list that jumps.
   */
  'datasets.samples': {
    params: SamplePageQuerySchema.extend({ offset: z.number().int().min(0).optional() }),
    result: z.object({ samples: z.array(Sample), next: z.string().nullable() }),
  },
  'datasets.count': { params: SampleFilterSchema, result: z.object({ count: z.number() }) },
  'datasets.sample': { params: z.object({ id: z.number().int().positive() }), result: Sample },
  'datasets.histogram': {
    params: SampleFilterSchema.extend({ bins: z.number().int().min(1).max(200).optional(), scale: z.enum(['linear', 'log']).optional() }),
    result: z.object({ edges: z.array(z.number()), counts: z.array(z.number()), scale: z.enum(['linear', 'log']) }),
  },
  /** Relabels samples (`domain: null` = unlabeled). */
  'datasets.setDomain': {
    params: z.object({ datasetId: z.number().int().positive(), sampleIds: SampleIds, domain: DomainLabel }),
    result: z.object({ changed: z.number() }),
  },
  /** Relabels a whole domain (`from: null` = the unlabeled samples); merges into `to` if it exists. */
  'datasets.renameDomain': {
    params: z.object({ datasetId: z.number().int().positive(), from: z.string().nullable(), to: DomainLabel }),
    result: z.object({ changed: z.number() }),
  },
  'datasets.deleteSamples': {
    params: z.object({ datasetId: z.number().int().positive(), sampleIds: SampleIds }),
    result: z.object({ deleted: z.number() }),
  },
  /** Deletes every sample of a filtered view. */
  'datasets.deleteMatching': { params: SampleFilterSchema, result: z.object({ deleted: z.number() }) },
  'datasets.rename': { params: z.object({ id: z.number().int().positive(), name: z.string().trim().min(1).max(200) }), result: DatasetInfo },
  'datasets.delete': { params: z.object({ id: z.number().int().positive() }), result: z.object({ deleted: z.literal(true) }) },
  /**
   * Starts a `dataset.export` job of a dataset or a filtered view. With `path`, to that file (the desktop app); without,
   * to a temporary file that the browser downloads from `GET /api/download/<downloadId>` once the job succeeds.
   */
  'datasets.export': {
    params: ExportJobParamsSchema.extend({ path: z.string().min(1).optional() }),
    result: z.object({ job: JobInfo, downloadId: z.string().nullable() }),
  },
  /** Removes uploaded files (`PUT /api/upload`) that are no longer needed. */
  'datasets.discardUploads': { params: z.object({ ids: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)).max(100) }), result: z.object({ removed: z.number() }) },

  // Models ------------------------------------------------------------------------------------------------------
  /** The default model (when installed) first, then the folders opened in this workspace. */
  'models.list': { params: z.object({}), result: z.array(ModelInfo) },
  /** Checks a checkpoint folder on the backend's machine (config.json + safetensors headers) and lists it. */
  'models.add': { params: z.object({ path: z.string().min(1), name: z.string().trim().max(200).optional() }), result: ModelInfo },
  /** Drops a model from the list; its files are never touched. */
  'models.remove': { params: z.object({ id: z.string().min(1) }), result: z.object({ removed: z.literal(true) }) },
  'models.get': { params: z.object({ id: z.string().min(1) }), result: ModelDetails },
  /** Open an exported folder with (`applied: true`, the default) or without the edit it carries, in every view and job. */
  'models.setEditApplied': { params: z.object({ id: z.string().min(1), applied: z.boolean() }), result: ModelInfo },
  /** Reads and checks a MASK.json against a model; pass `mask` on as a job's `mask` param. */
  'models.loadMask': {
    params: z.object({ id: z.string().min(1), path: z.string().min(1) }),
    result: z.object({ path: z.string(), mask: z.record(z.string(), z.unknown()), layers: z.number(), entries: z.number() }),
  },
  // Expert atlas (workers/analysis/atlas/schema.ts) ------------------------------------------------------------
  ...atlasMethods,
  // Resection (workers/analysis/resection/schema.ts) -----------------------------------------------------------
  ...resectionMethods,
  // SAE training, runs and caches (workers/sae/train-options.ts) ------------------------------------------------
  ...saeTrainMethods,
  // SAE capture, imports, evaluation, encoding (workers/sae/eval-schema.ts) -------------------------------------
  ...saeToolMethods,
} as const;

export type MethodName = keyof typeof methods;
export type Params<M extends MethodName> = z.input<(typeof methods)[M]['params']>;
export type Result<M extends MethodName> = z.infer<(typeof methods)[M]['result']>;

// ---------------------------------------------------------------------------------------------------------------
// Events pushed by the backend

export const events = {
  'job.update': JobInfo,
  'job.log': z.object({ id: z.string(), line: z.string() }),
  /** Streamed output of a running job (generated tokens): only the new text, in order. Not stored: late clients read the result. */
  'job.output': z.object({ id: z.string(), text: z.string() }),
  'settings.changed': Settings,
  'workspace.changed': WorkspaceInfo,
  /** A dataset was edited, renamed or deleted (null: the list changed). Imports: watch the `dataset.import` job. */
  'datasets.changed': z.object({ datasetId: z.number().nullable() }),
  /** The models list changed (added or removed). */
  'models.changed': z.object({}),
  ...resectionEvents,
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
