/**
 * Params of the SAE capture, import, evaluation and encoding jobs and their API methods, as zod schemas without Node or
 * engine imports (the job registry, common/api.ts and the renderer load them). Handlers: main/api/sae.ts; jobs:
 * workers/jobs/sae-tools.ts.
 */
import { z } from 'zod';
import { SaeFolderId, SaeTextDataSchema } from './train-options';

/** `blocks.L.hook_resid_post` | `blocks.L.hook_attn_out` | `blocks.L.hook_mlp_out`. */
const HookName = z.string().regex(/^blocks\.\d+\.hook_(resid_post|attn_out|mlp_out)$/, 'a hook is blocks.L.hook_resid_post, blocks.L.hook_attn_out or blocks.L.hook_mlp_out');

/** `sae.capture`: a model's hook over text into the workspace's activation cache (reused when complete). */
export const SaeCaptureParams = z.object({
  model: z.string().min(1),
  hook: HookName,
  data: SaeTextDataSchema,
  /** Stop after this many tokens (all of the data when absent). */
  maxTokens: z.number().int().positive().optional(),
  /** Window length in tokens (default min(256, the model's max positions)). */
  context: z.number().int().min(2).optional(),
  excludeBos: z.boolean().default(true),
});

/** `sae.importActivations`: a [tokens, d] .npy or safetensors file into the activation cache. */
export const SaeImportActivationsParams = z.object({
  file: z.string().min(1),
  /** safetensors: the tensor (default: the only 2-D one). */
  tensor: z.string().min(1).optional(),
  /** What the activations are (recorded). */
  hookName: z.string().min(1).max(200).default('external'),
  /** The model they came from (free text, recorded). */
  sourceModel: z.string().max(500).optional(),
  excludeBos: z.boolean().default(true),
});

/** `sae.import`: an SAE Lens or sparsify folder into `<workspace>/saes/<id>`. */
export const SaeImportParams = z.object({
  dir: z.string().min(1),
  /** sparsify run folder: the hookpoint folder to import. */
  hookpoint: z.string().min(1).max(200).optional(),
  id: SaeFolderId,
  /** Replace an SAE with the same id. */
  replace: z.boolean().default(false),
});

/** What an evaluation reads: a model's hook over text (with the spliced loss), or an activation cache. */
export const SaeEvalDataSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('text'),
    /** Model folder (default: the model the SAE records). */
    model: z.string().min(1).optional(),
    data: SaeTextDataSchema,
    context: z.number().int().min(2).optional(),
    /** Skip the three loss forwards (activation metrics only). */
    activationsOnly: z.boolean().default(false),
  }),
  z.object({ kind: z.literal('cache'), cache: SaeFolderId }),
]);

/** `sae.eval`: metrics of an SAE of the workspace; the result is also written to `<sae>/resect_eval.json`. */
export const SaeEvalParams = z.object({
  sae: SaeFolderId,
  source: SaeEvalDataSchema,
  maxTokens: z.number().int().positive().max(100_000_000).default(65_536),
  /** Another SAE of the workspace (another seed): cross-seed max cosine similarity. */
  against: SaeFolderId.optional(),
  /** With `against`: only the top-α most active latents of `sae`. */
  alpha: z.number().gt(0).lte(1).optional(),
  /** Cosine above which a latent counts as found again (default 0.9). */
  threshold: z.number().gt(0).lte(1).default(0.9),
});

/** `sae.encode`: texts through the model and an SAE of the workspace, per token its strongest latents. */
export const SaeEncodeParams = z.object({
  sae: SaeFolderId,
  /** Model folder (default: the model the SAE records). */
  model: z.string().min(1).optional(),
  texts: z.array(z.string().min(1).max(20_000)).min(1).max(64),
  top: z.number().int().min(1).max(64).default(8),
});

const GroupRate = z.object({ group: z.number(), target: z.number(), realized: z.number(), latents: z.number() });

/** The result of `sae.eval` (and `<sae>/resect_eval.json`). */
export const SaeEvalResult = z.object({
  sae: z.string(),
  source: z.string(),
  metrics: z.object({
    tokens: z.number(), mse: z.number(), nmse: z.number(), fve: z.number(), l0: z.number(), l0Fraction: z.number(),
    dead: z.number(), deadFraction: z.number(), groups: z.array(GroupRate).optional(),
  }),
  /** Next-token loss (nats): clean, SAE spliced in, hook zero-ablated; null when not on text. */
  loss: z.object({ tokens: z.number(), clean: z.number(), spliced: z.number(), zero: z.number(), lossRecovered: z.number().nullable() }).nullable(),
  crossSeed: z.object({ against: z.string(), latents: z.number(), threshold: z.number(), fractionAbove: z.number(), meanMcs: z.number(), alpha: z.number().nullable() }).nullable(),
  evaluatedAt: z.number(),
});
export type SaeEvalResult = z.infer<typeof SaeEvalResult>;

export const SaeEncodedText = z.object({
  text: z.string(),
  tokens: z.array(z.object({ pos: z.number(), id: z.number(), token: z.string(), l0: z.number(), latents: z.array(z.object({ latent: z.number(), value: z.number() })) })),
});

const JobStarted = z.object({ jobId: z.string() });

export const saeToolMethods = {
  /** Starts an `sae.capture` job (model and JSONL paths are checked first); `cache` is the cache id it fills. */
  'saes.capture': { params: SaeCaptureParams, result: JobStarted },
  /** Starts an `sae.importActivations` job ([tokens, d] .npy or safetensors → activation cache). */
  'saes.importActivations': { params: SaeImportActivationsParams, result: JobStarted },
  /** Starts an `sae.import` job (SAE Lens or sparsify folder → `<workspace>/saes/<id>`). */
  'saes.import': { params: SaeImportParams.omit({ id: true }).extend({ id: SaeFolderId.optional() }), result: JobStarted.extend({ id: z.string() }) },
  /** Starts an `sae.eval` job; its result is an SaeEvalResult. */
  'saes.eval': { params: SaeEvalParams, result: JobStarted },
  /** The latest evaluation of an SAE (`<sae>/resect_eval.json`), or null. */
  'saes.lastEval': { params: z.object({ sae: SaeFolderId }), result: SaeEvalResult.nullable() },
  /** Starts an `sae.encode` job (light); its result is `{ texts: SaeEncodedText[] }`. */
  'saes.encode': { params: SaeEncodeParams, result: JobStarted },
} as const;
