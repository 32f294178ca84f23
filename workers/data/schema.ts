/**
 * Zod schemas of the dataset API shapes (params the backend validates). Self-contained (imports only zod) so the
 * backend can move or re-export them into `common/` for the API table; the compile-time checks at the bottom keep
 * them in step with `types.ts`.
 */
import { z } from 'zod';
import type { Mapping, SampleFilter, SamplePageQuery } from './types';

export const TextMappingSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('field'), field: z.string() }),
  z.object({ kind: z.literal('template'), template: z.string().min(1) }),
  z.object({ kind: z.literal('chat'), field: z.string().min(1) }),
]);

export const DomainMappingSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }),
  z.object({ kind: z.literal('field'), field: z.string().min(1) }),
  z.object({ kind: z.literal('folder') }),
  z.object({ kind: z.literal('file') }),
  z.object({ kind: z.literal('value'), value: z.string().min(1).max(200) }),
]);

export const MappingSchema = z.object({
  text: TextMappingSchema,
  domain: DomainMappingSchema,
  defaultDomain: z.string().max(200).nullable().optional(),
  scores: z.array(z.object({ name: z.string().min(1).max(200), field: z.string().min(1) })).max(100),
});

/** Plain text: a record per line, per blank-line paragraph, or per file; auto: files of a folder whole, else lines. */
const TextUnit = z.enum(['line', 'paragraph', 'file', 'auto']);

/** `datasets.preview` params: paths on the backend's machine (uploads are saved to a temporary file first). */
export const PreviewParamsSchema = z.object({
  paths: z.array(z.string().min(1)).min(1),
  mapping: MappingSchema.optional(),
  limit: z.number().int().min(1).max(1000).optional(),
  textUnit: TextUnit.optional(),
});

/** Params of the `dataset.import` job. */
export const ImportJobParamsSchema = z.object({
  paths: z.array(z.string().min(1)).min(1),
  name: z.string().max(200).optional(),
  mapping: MappingSchema.optional(),
  onError: z.enum(['skip', 'stop']).default('skip'),
  duplicates: z.enum(['skip', 'keep']).default('skip'),
  textUnit: TextUnit.default('auto'),
});

/** Params of the `dataset.score` job: a toxicity (or other) score written into every sample of a dataset. */
export const ScoreJobParamsSchema = z.object({
  datasetId: z.number().int().positive(),
  /** heuristic (the toxicity heuristic), lexicon, lexicon:presence or onnx:<file.onnx> (workers/analysis/resection/scorers.ts). */
  scorer: z.string().min(1).default('heuristic'),
  name: z.string().trim().min(1).max(200).default('toxicity'),
  /** Replace the score where samples already have it; without it the job refuses and changes nothing. */
  overwrite: z.boolean().default(false),
});

export const SampleFilterSchema = z.object({
  datasetId: z.number().int().positive(),
  domain: z.string().nullable().optional(),
  search: z.string().max(1000).optional(),
});

export const SamplePageQuerySchema = SampleFilterSchema.extend({
  sort: z
    .discriminatedUnion('by', [
      z.object({ by: z.literal('id'), dir: z.enum(['asc', 'desc']).optional() }),
      z.object({ by: z.literal('chars'), dir: z.enum(['asc', 'desc']).optional() }),
    ])
    .optional(),
  limit: z.number().int().min(1).max(1000).optional(),
  cursor: z.string().max(200).nullable().optional(),
  snippetChars: z.number().int().min(1).max(100_000).optional(),
});

/** Params of the `dataset.export` job. */
export const ExportJobParamsSchema = z.object({
  filter: SampleFilterSchema,
  format: z.enum(['jsonl', 'parquet']),
  path: z.string().min(1),
});

// Compile-time: the schemas accept exactly what the library takes.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const checks: [Same<z.infer<typeof MappingSchema>, Mapping>, Same<z.infer<typeof SampleFilterSchema>, SampleFilter>, Same<z.infer<typeof SamplePageQuerySchema>, SamplePageQuery>] = [true, true, true];
void checks;
