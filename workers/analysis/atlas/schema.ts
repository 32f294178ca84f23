/** Zod schemas of the atlas (no Node imports: common/api.ts and the renderer use them). */
import { z } from 'zod';
import { FolderId } from '../../../common/ids';

export const AtlasDataSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('dataset'), datasetId: z.number().int().positive() }),
  z.object({ kind: z.literal('jsonl'), path: z.string().min(1), textField: z.string().default('text') }),
]);
export type AtlasData = z.output<typeof AtlasDataSchema>;

export const AtlasFilterSchema = z.object({
  /** Only samples of this domain. */
  domain: z.string().optional(),
  /** Only samples containing this text (datasets: the store's full-text search; JSONL: case-insensitive substring). */
  search: z.string().optional(),
});
export type AtlasFilter = z.output<typeof AtlasFilterSchema>;

export const AtlasBuildParams = z.object({
  model: z.string().min(1),
  data: AtlasDataSchema,
  filter: AtlasFilterSchema.default({}),
  /** JSONL: field of the domain (default "domain"). */
  domainField: z.string().min(1).optional(),
  /** Dataset score name or JSONL field: keeps per-expert correlation sums against it. */
  scoreField: z.string().min(1).optional(),
  topK: z.number().int().min(0).max(1000).default(20),
  threshold: z.number().min(0).default(0.01),
  maxSamples: z.number().int().positive().optional(),
  context: z.number().int().min(2).optional(),
  checkpointEvery: z.number().int().min(0).default(1000),
  /** Atlas id (folder name under atlases/); new when absent. */
  id: FolderId.optional(),
  name: z.string().max(200).optional(),
  /** Output folder instead of `<workspace>/atlases/<id>`. */
  out: z.string().optional(),
  resume: z.boolean().default(false),
  /** Also record this SAE's latents (its id under `<workspace>/saes/`, or a folder): a latent atlas (docs/sae.md). */
  sae: z.string().min(1).optional(),
});

// ---------------------------------------------------------------------------------------------------------------
// API (spread into `methods` of common/api.ts)

export const AtlasInfo = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.number(),
  dir: z.string(),
  model: z.object({ dir: z.string(), decompose: z.string(), layers: z.number(), routerLayers: z.array(z.number()), H: z.number(), E: z.number() }),
  data: z.object({ description: z.string(), kind: z.enum(['dataset', 'jsonl']), datasetId: z.number().optional(), path: z.string().optional() }),
  filter: z.object({ domain: z.string().optional(), search: z.string().optional() }),
  options: z.object({ threshold: z.number(), topK: z.number(), bins: z.number(), context: z.number(), maxSamples: z.number().nullable(), scoreField: z.string().nullable() }),
  tokens: z.number(),
  samples: z.number(),
  domains: z.array(z.object({ name: z.string(), tokens: z.number() })),
  score: z.object({ name: z.string(), n: z.number() }).nullable(),
  tokensPerSecond: z.number(),
  /** A latent atlas: the SAE whose latents are group `group` (after the routing groups). */
  sae: z.object({ id: z.string(), dir: z.string(), method: z.string(), latents: z.number(), hook: z.string(), group: z.number() }).nullable().default(null),
});
export type AtlasInfo = z.infer<typeof AtlasInfo>;

const num = z.number().nullable(); // JSON has no Infinity: skew of a single-domain expert is null
export const ExpertSummary = z.object({
  group: z.number(), id: z.number(), i: z.number(), j: z.number(),
  count: z.number(), frequency: z.number(), totalScore: z.number(), meanScore: z.number(),
  dominant: z.string().nullable(), skew: num, correlation: num,
});
export type ExpertSummary = z.infer<typeof ExpertSummary>;

export const TopContext = z.object({
  rank: z.number(), score: z.number(), left: z.string(), token: z.string(), right: z.string(), domain: z.string(), sample: z.number(), ref: z.number(), pos: z.number(),
});
export type TopContext = z.infer<typeof TopContext>;

const PromotedToken = z.object({ id: z.number(), text: z.string(), logit: z.number() });

export const ExpertPage = ExpertSummary.extend({
  atlas: z.string(),
  domains: z.array(z.object({ domain: z.string(), mean: z.number(), tokens: z.number() })),
  histogram: z.object({ edges: z.array(z.number()), counts: z.array(z.number()) }),
  contexts: z.array(TopContext),
  promoted: z.object({ top: z.array(PromotedToken), bottom: z.array(PromotedToken), method: z.string() }).nullable(),
  /** Experts sharing sub-expert i (row) or j (column), most active first. */
  row: z.array(ExpertSummary),
  column: z.array(ExpertSummary),
  /** Milliseconds the backend took. */
  ms: z.number(),
  /** A latent atlas's bridge: for a latent, the experts active on most of the same tokens; for an expert, the latents
   * (Jaccard overlap of active tokens; share = of this unit's active tokens, the part the other is active on). */
  bridge: z.array(ExpertSummary.extend({ count: z.number(), jaccard: z.number(), share: z.number() })).nullable().default(null),
});
export type ExpertPage = z.infer<typeof ExpertPage>;

const AtlasRef = z.object({ atlas: FolderId, group: z.number().int().min(0) });
const ExpertRef = AtlasRef.extend({ expert: z.number().int().min(0) });

export const CollectionItem = z.object({ atlas: z.string(), group: z.number(), expert: z.number(), label: z.string(), notes: z.string(), addedAt: z.number() });
export const Collection = z.object({ id: z.number(), name: z.string(), notes: z.string(), createdAt: z.number(), items: z.array(CollectionItem) });
export type Collection = z.infer<typeof Collection>;

export const atlasMethods = {
  'atlas.list': { params: z.object({}), result: z.array(AtlasInfo) },
  /** Starts an `atlas.build` job (model and JSONL paths are checked first). */
  'atlas.build': { params: AtlasBuildParams, result: z.object({ jobId: z.string(), atlas: z.string() }) },
  'atlas.delete': { params: z.object({ atlas: AtlasRef.shape.atlas }), result: z.object({ deleted: z.literal(true) }) },
  /** The E×E map of a group, row-major [i][j]: counts (float32), dominant domain index + 1 (uint8, 0 = none), skew (float32); base64. */
  'atlas.map': {
    params: AtlasRef,
    result: z.object({ E: z.number(), counts: z.string(), dominant: z.string(), skew: z.string(), domains: z.array(z.string()), maxCount: z.number(), tokens: z.number(), ms: z.number() }),
  },
  'atlas.experts': {
    params: AtlasRef.extend({
      sort: z.enum(['id', 'count', 'score', 'skew', 'correlation']).default('count'),
      dir: z.enum(['asc', 'desc']).optional(),
      offset: z.number().int().min(0).default(0),
      limit: z.number().int().min(1).max(1000).default(100),
      domain: z.string().optional(),
      minCount: z.number().min(0).optional(),
      minSkew: z.number().min(0).optional(),
      ids: z.array(z.number().int().min(0)).max(100_000).optional(),
    }),
    result: z.object({ total: z.number(), experts: z.array(ExpertSummary) }),
  },
  'atlas.expert': { params: ExpertRef.extend({ contexts: z.number().int().min(0).max(1000).optional() }), result: ExpertPage },
  /** Experts whose top contexts contain `text`, or whose top tokens are `token`. */
  'atlas.search': {
    params: z.object({ atlas: AtlasRef.shape.atlas, group: z.number().int().min(0).optional(), text: z.string().optional(), token: z.string().optional(), limit: z.number().int().min(1).max(1000).default(100) }),
    result: z.array(ExpertSummary.extend({ matches: z.number() })),
  },
  'atlas.collections': { params: z.object({}), result: z.array(Collection) },
  'atlas.saveCollection': {
    params: z.object({ id: z.number().int().positive().optional(), name: z.string().trim().min(1).max(200), notes: z.string().max(100_000).default('') }),
    result: Collection,
  },
  'atlas.deleteCollection': { params: z.object({ id: z.number().int().positive() }), result: z.object({ deleted: z.literal(true) }) },
  /** Adds (or updates the label/notes of) an expert in a collection. */
  'atlas.pin': {
    params: ExpertRef.extend({ collection: z.number().int().positive(), label: z.string().max(200).default(''), notes: z.string().max(100_000).default('') }),
    result: Collection,
  },
  'atlas.unpin': { params: ExpertRef.extend({ collection: z.number().int().positive() }), result: Collection },
} as const;
