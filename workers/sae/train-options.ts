/**
 * What a user can ask of an SAE training run, as one zod schema without Node or engine imports, so that the job
 * registry (loaded by the backend), the API contract (common/api.ts) and the renderer validate and describe the same
 * fields. Every hyperparameter is optional here: an absent one takes the trainer's default (workers/sae/model.ts
 * SaeTrainConfigSchema, the spec's §2.5 values), which `SAE_TRAIN_DEFAULTS` repeats for forms to show; a test keeps the
 * two equal.
 */
import { z } from 'zod';
import { FolderId } from '../../common/ids';
import type { SaeStepMetrics } from './types';

/** A folder name inside `<workspace>/saes` or the activation cache root: the workspace's one id rule (common/ids.ts). */
export const SaeFolderId = FolderId;

export const SAE_METHODS = ['gba', 'ba', 'topk', 'relu-l1'] as const;
export type SaeMethodName = (typeof SAE_METHODS)[number];

/** The trainer's defaults for the fields a form shows (workers/sae/model.ts; tested equal). */
export const SAE_TRAIN_DEFAULTS = {
  method: 'gba' as SaeMethodName,
  batchSize: 512,
  steps: 10_000,
  lr: 1e-4,
  warmupSteps: 0,
  seed: 0,
  groups: 10,
  htf: 0.5,
  ltf: 1e-3,
  gammaMinus: 0.01,
  gammaPlus: 0.01,
  adaptEvery: 50,
  k: 32,
  l1: 0.01,
  deadTokens: 10_000_000,
  normalize: 'dataset' as 'dataset' | 'dataset-centered' | 'per-token' | 'none',
};

/** Hyperparameters (model.ts names). Only ranges here; the trainer checks the rest (k ≤ latents, bias range). */
export const SaeTrainHyperSchema = z.object({
  method: z.enum(SAE_METHODS).optional(),
  /** Latents M. */
  latents: z.number().int().positive().max(1 << 20),
  batchSize: z.number().int().positive().max(1 << 16).optional(),
  steps: z.number().int().positive().max(100_000_000).optional(),
  lr: z.number().positive().max(1).optional(),
  warmupSteps: z.number().int().min(0).optional(),
  seed: z.number().int().min(0).optional(),
  groups: z.number().int().positive().max(1000).optional(),
  htf: z.number().gt(0).lte(1).optional(),
  ltf: z.number().gt(0).lte(1).optional(),
  targetFrequency: z.number().gt(0).lte(1).optional(),
  gammaMinus: z.number().positive().optional(),
  gammaPlus: z.number().positive().optional(),
  adaptEvery: z.number().int().positive().optional(),
  gate: z.enum(['jumprelu', 'relu']).optional(),
  tied: z.boolean().optional(),
  k: z.number().int().positive().optional(),
  auxK: z.number().int().min(0).optional(),
  l1: z.number().min(0).optional(),
  deadTokens: z.number().int().positive().optional(),
  normalize: z.enum(['dataset', 'dataset-centered', 'per-token', 'none']).optional(),
  normTarget: z.number().positive().optional(),
});
export type SaeTrainHyper = z.output<typeof SaeTrainHyperSchema>;

/** The text an activation capture reads: a workspace dataset or a JSONL file (the atlas's data shape). */
export const SaeTextDataSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('dataset'), datasetId: z.number().int().positive() }),
  z.object({ kind: z.literal('jsonl'), path: z.string().min(1), textField: z.string().min(1).default('text') }),
]);
export type SaeTextData = z.output<typeof SaeTextDataSchema>;

/** Where the activations come from: a model's hook over text (captured into the cache once, reused after), or an
 * activation cache already in the workspace (an import). */
export const SaeTrainSourceSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('model'),
    /** Model folder on the backend's machine. */
    model: z.string().min(1),
    /** `blocks.L.hook_resid_post` | `blocks.L.hook_attn_out` | `blocks.L.hook_mlp_out`. */
    hook: z.string().regex(/^blocks\.\d+\.hook_(resid_post|attn_out|mlp_out)$/, 'a hook is blocks.L.hook_resid_post, blocks.L.hook_attn_out or blocks.L.hook_mlp_out'),
    data: SaeTextDataSchema,
    /** Stop capturing after this many tokens (all of the data when absent). */
    maxTokens: z.number().int().positive().optional(),
    /** Window length in tokens (default min(256, the model's max positions)). */
    context: z.number().int().min(2).optional(),
    excludeBos: z.boolean().default(true),
  }),
  z.object({ kind: z.literal('cache'), cache: SaeFolderId }),
]);
export type SaeTrainSource = z.output<typeof SaeTrainSourceSchema>;

export const SaeTrainJobParams = z.object({
  source: SaeTrainSourceSchema,
  config: SaeTrainHyperSchema,
  /** SAE id: its folder `<workspace>/saes/<id>`. */
  id: SaeFolderId,
  /** Display name (default: method, latents, hook). */
  name: z.string().trim().max(200).optional(),
  /** Continue the checkpoint in the SAE's folder. */
  resume: z.boolean().default(false),
  /** Periodic checkpoints every N steps (0: only at pause, cancel and the end). */
  checkpointEvery: z.number().int().min(0).default(500),
  /** A metrics record every N steps (and the last). */
  logEvery: z.number().int().positive().default(1),
  /** Tokens of the cache the final evaluation reads (FVE, L0, dead fraction over them). */
  evalTokens: z.number().int().min(0).default(65_536),
});
export type SaeTrainJobParams = z.output<typeof SaeTrainJobParams>;

/** One step record of `<sae>/metrics.jsonl` (type 'step'); also start/resume/end/checkpoint/eval records. */
export interface SaeMetricsStep extends SaeStepMetrics {
  type: 'step';
  time: number;
}

/** The summary a trained SAE carries in `resect_train.json` (and the compare table reads). */
export interface SaeTrainSummary {
  format: 1;
  id: string;
  name: string;
  method: SaeMethodName;
  latents: number;
  dIn: number;
  hook: string;
  model: string | null;
  data: string;
  cache: string;
  config: Record<string, unknown>;
  steps: number;
  tokens: number;
  elapsedMs: number;
  /** Over `evalTokens` tokens of the cache, in stored order, with the SAE as saved. */
  eval: {
    tokens: number; fve: number; nmse: number; l0: number; dead: number;
    groups?: { group: number; target: number; realized: number; latents: number }[];
  } | null;
  finishedAt: number;
}

// ---------------------------------------------------------------------------------------------------------------
// API (spread into `methods` of common/api.ts; handlers in main/api/sae-train.ts)

/** An SAE folder of the workspace as the SAEs view lists and compares it. */
export const SaeRunInfo = z.object({
  id: z.string(),
  name: z.string(),
  dir: z.string(),
  /** trained: a finished Resect run; imported: a folder without a training log; unfinished: a run with no saved SAE yet. */
  origin: z.enum(['trained', 'imported', 'unfinished']),
  method: z.string().nullable(),
  architecture: z.string().nullable(),
  latents: z.number().nullable(),
  dIn: z.number().nullable(),
  hook: z.string().nullable(),
  model: z.string().nullable(),
  data: z.string().nullable(),
  steps: z.number().nullable(),
  elapsedMs: z.number().nullable(),
  config: z.record(z.string(), z.unknown()).nullable(),
  eval: z.object({
    tokens: z.number(), fve: z.number().nullable(), nmse: z.number().nullable(), l0: z.number(), dead: z.number(),
    groups: z.array(z.object({ group: z.number(), target: z.number(), realized: z.number(), latents: z.number() })).optional(),
  }).nullable(),
  /** A checkpoint to resume from. */
  checkpoint: z.boolean(),
  createdAt: z.number(),
});
export type SaeRunInfo = z.infer<typeof SaeRunInfo>;

export const SaeCacheInfo = z.object({
  id: z.string(),
  description: z.string(),
  hook: z.string(),
  model: z.string(),
  dIn: z.number(),
  numTokens: z.number(),
  samples: z.number(),
  createdAt: z.number(),
});
export type SaeCacheInfo = z.infer<typeof SaeCacheInfo>;

export const SaeSyntheticJobParams = z.object({
  /** Multiplies every run's step count (1: the study as documented; smaller for a quick look). */
  scale: z.number().gt(0).max(4).default(1),
  seed: z.number().int().min(0).default(0),
  /** Only these runs (ba, gba-full, gba-wrong, topk-20, topk-30, topk-50). */
  only: z.array(z.string().min(1)).max(20).optional(),
});

export const saeTrainMethods = {
  /** Starts an `sae.train` job into `<workspace>/saes/<id>` (a new id when absent; paths are checked first). */
  'saes.train': {
    params: SaeTrainJobParams.omit({ id: true }).extend({ id: SaeFolderId.optional() }),
    result: z.object({ jobId: z.string(), id: z.string() }),
  },
  /** Every SAE folder of the workspace (trained, imported, unfinished), newest first, with what the compare table shows. */
  'saes.runs': { params: z.object({}), result: z.array(SaeRunInfo) },
  /** Complete activation caches of the workspace (captures and imports), newest first. */
  'saes.caches': { params: z.object({}), result: z.array(SaeCacheInfo) },
  /** Starts an `sae.synthetic` job: the paper's planted-feature recovery study (`resect experiment gba-synthetic`). */
  'saes.synthetic': { params: SaeSyntheticJobParams, result: z.object({ jobId: z.string() }) },
} as const;
