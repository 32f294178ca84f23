/** Zod schemas of resection (no Node imports: common/api.ts and the renderer use them). */
import { z } from 'zod';

/** Where samples come from: a workspace dataset or a JSONL file (the same shape as the atlas's data source). */
export const DataSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('dataset'), datasetId: z.number().int().positive() }),
  z.object({ kind: z.literal('jsonl'), path: z.string().min(1), textField: z.string().default('text') }),
]);
export type DataSource = z.output<typeof DataSourceSchema>;

const ids = z.array(z.number().int().min(0));
const table = z.record(z.string().regex(/^\d+$/), ids);
export const MaskJsonSchema = z.object({ layers: table.optional(), groups: table.optional(), rows: table.optional(), columns: table.optional() }).strict();

export const ScopeSchema = z.enum(['group', 'layer']);

export const SelectionRuleSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('domain'),
    /** The domain whose experts to remove; absent: count every domain's experts (Tables 9–10) without a mask. */
    domain: z.string().min(1).nullish(),
    ratio: z.number().min(1).default(2),
    minMass: z.number().min(0).default(0),
    scope: ScopeSchema.default('group'),
    layer: z.number().int().min(0).nullish(),
  }),
  z.object({
    kind: z.literal('score'),
    score: z.string().min(1),
    tau: z.number().min(-1).max(1),
    scope: ScopeSchema.default('group'),
    layer: z.number().int().min(0).nullish(),
  }),
]);
export type SelectionRuleInput = z.input<typeof SelectionRuleSchema>;

export const SelectedExpertSchema = z.object({
  group: z.number(), id: z.number(), i: z.number(), j: z.number(),
  domain: z.string().optional(),
  /** Skew (null = infinite: the second domain's mean is 0) or Pearson r. */
  value: z.number().nullable(),
  mass: z.number().optional(),
});

export const SelectionResult = z.object({
  source: z.string(),
  scope: ScopeSchema,
  layer: z.number().nullable(),
  expertsPerGroup: z.number(),
  groups: z.number(),
  counts: z.object({ domains: z.array(z.string()), table: z.array(z.array(z.number())), totals: z.array(z.number()) }).optional(),
  /** Share of each domain's routing mass the selected experts carry, per domain (rows) and group (columns). */
  massShare: z.object({ domains: z.array(z.string()), table: z.array(z.array(z.number())) }),
  total: z.number(),
  /** The first `limit` experts (strongest first within the list order: by group, then skew / r). */
  experts: z.array(SelectedExpertSchema),
  mask: MaskJsonSchema,
  scoreNames: z.array(z.string()),
  domains: z.array(z.string()),
});
export type SelectionResult = z.infer<typeof SelectionResult>;

export const EditInfo = z.object({
  id: z.number(), model: z.string(), name: z.string(), kind: z.enum(['remove', 'restore']), createdAt: z.number(),
  enabled: z.boolean(), position: z.number(), experts: z.number(), recipe: z.record(z.string(), z.unknown()),
});
export type EditInfo = z.infer<typeof EditInfo>;

export const EditStack = z.object({
  model: z.string(),
  edits: z.array(EditInfo),
  canUndo: z.boolean(),
  canRedo: z.boolean(),
  /** The active stack composed into one mask, and the (layer, expert) pairs it removes. */
  mask: MaskJsonSchema,
  removed: z.number(),
  /** Composite experts per layer (E²) × layers, for percentages. */
  capacity: z.number(),
});
export type EditStack = z.infer<typeof EditStack>;

export const EvaluateParams = z.object({
  model: z.string().min(1),
  /** The mask to evaluate (the API fills it from the active stack). */
  mask: MaskJsonSchema,
  data: DataSourceSchema.optional(),
  domainField: z.string().min(1).optional(),
  /** Evaluation text: a budget of tokens per domain, drawn by whole documents with a seed (sampling.ts). */
  tokensPerDomain: z.number().int().min(100).max(10_000_000).default(6000),
  sampleSeed: z.number().int().min(0).default(0),
  /** Field naming the document a sample was cut from (JSONL); without it, runs of consecutive samples. */
  docField: z.string().min(1).default('source'),
  target: z.string().nullish(),
  prompts: z.array(z.string()).max(50).default([]),
  maxTokens: z.number().int().min(1).max(512).default(32),
  seed: z.number().int().default(0),
  temperature: z.number().min(0).default(0),
  topP: z.number().gt(0).max(1).default(1),
  toxicity: z.object({
    prompts: z.array(z.string()).min(1).max(1000),
    // heuristic: insults, threats and profanity from maintained lexicons (scorers.ts); onnx:<file> for a classifier.
    scorer: z.string().default('heuristic'),
    k: z.number().int().min(1).max(100).default(5),
    n: z.number().int().min(1).max(256).default(20),
    heldout: DataSourceSchema.optional(),
  }).optional(),
  context: z.number().int().min(2).optional(),
  edits: z.array(z.number()).default([]),
  /** Atlases the active edits were selected from (the API fills it from their recipes): checked for overlap. */
  atlases: z.array(z.string()).default([]),
});
export type EvaluateParams = z.output<typeof EvaluateParams>;

export const ExportParams = z.object({
  model: z.string().min(1),
  mask: MaskJsonSchema,
  out: z.string().min(1),
  baked: z.boolean().default(false),
  copy: z.boolean().default(false),
  recipe: z.record(z.string(), z.unknown()).default({}),
  /** Also write model.onnx: one ONNX graph input_ids → logits with the mask built in (export-onnx.ts). */
  onnx: z.boolean().default(false),
});

/** One domain's row of the domain-masking experiment (the paper's Table 11 shape; `resect experiment --json`). */
export interface DomainMaskingRow {
  experts_removed: number;
  /** Tokens of the domain evaluated. */
  tokens?: number;
  ppl_before: number;
  ppl_after: number;
  target_rel_increase: number;
  others_mean_rel_increase: number;
  /** Relative increase of each other domain: where the collateral damage behind ΔOthers went. */
  others_rel_increase: Record<string, number>;
  /** ΔTarget / ΔOthers (null when ΔOthers ≤ 0: no finite ratio); the bar is ≥ 10. */
  selectivity: number | null;
  /** Bootstrap intervals over the evaluated samples (bootstrap.ts); absent in results from before issue 20. */
  ci?: DomainMaskingIntervals;
}

/** A ratio's interval: an end is null when it is unbounded (ΔOthers ≤ 0 in that share of the replicates). */
export type RatioInterval = [number | null, number | null];

export interface DomainMaskingIntervals {
  target_rel_increase: [number, number];
  others_mean_rel_increase: [number, number];
  selectivity: RatioInterval;
  /** Share of bootstrap replicates in which the row clears the bar. */
  pass_share: number;
}

/** How much text each domain was evaluated on (sampling.ts `stratifiedSample`). */
export interface DomainDraw {
  domain: string;
  /** Tokens scored (the text's tokens less the first). */
  tokens: number;
  samples: number;
  documents: number;
  /** The domain's tokens in all when it ran out before the budget, else null. */
  available: number | null;
  short: boolean;
}

export interface DrawSummary {
  tokens_per_domain: number;
  seed: number;
  /** 'doc': whole documents by their id; 'runs': runs of `run_length` consecutive samples (no document ids). */
  grouped_by: 'doc' | 'runs';
  run_length: number;
  /** True: documents taken whole (the rest of the file built the atlas); false: spread one sample per document per round. */
  whole_documents: boolean;
  domains: DomainDraw[];
}

/** The other domain whose perplexity rose most (null when there is none). */
export function mostAffectedOther(x: Pick<DomainMaskingRow, 'others_rel_increase'>): { domain: string; relIncrease: number } | null {
  let best: { domain: string; relIncrease: number } | null = null;
  for (const [domain, v] of Object.entries(x.others_rel_increase)) if (!best || v > best.relIncrease) best = { domain, relIncrease: v };
  return best;
}

/** The experiment in two readings: per domain (how many clear the bar) and over domains (mean ΔTarget against mean
 *  ΔOthers, the aggregate the paper's Table 11 reports). */
export interface DomainMaskingSummary {
  passing: string[];
  mean_target_rel_increase: number;
  mean_others_rel_increase: number;
  /** Mean ΔTarget / mean ΔOthers; null when the others did not get worse on average. Dominated by the domains
   *  with the largest ΔTarget (the code domains on the default model). */
  mean_selectivity: number | null;
  /** Median over domains of ΔTarget / ΔOthers (null: unbounded). */
  median_selectivity?: number | null;
  /** Bootstrap intervals of the median ratio and of the number of domains that pass. */
  median_selectivity_ci?: RatioInterval;
  passing_ci?: [number, number];
  bootstrap?: { replicates: number; level: number; seed: number };
}

export const ExperimentParams = z.object({
  model: z.string().min(1),
  data: DataSourceSchema,
  domainField: z.string().min(1).optional(),
  ratio: z.number().min(1).default(2),
  minMass: z.number().min(0).default(0),
  scope: z.enum(['group', 'layer']).default('group'),
  layer: z.number().int().min(0).nullable().optional(),
  /** Evaluation text per domain (sampling.ts): tokens, drawn by whole documents with `sampleSeed`. */
  tokensPerDomain: z.number().int().min(100).max(10_000_000).default(6000),
  sampleSeed: z.number().int().min(0).default(0),
  docField: z.string().min(1).default('source'),
  /** Run even when a domain has fewer tokens than the budget (the result says which). */
  allowShort: z.boolean().default(false),
  /** A built atlas folder or id; absent: one is built on `atlasData`, or on the samples of `data` not evaluated. */
  atlas: z.string().optional(),
  atlasData: DataSourceSchema.optional(),
  atlasSamplesPerDomain: z.number().int().positive().optional(),
  context: z.number().int().min(2).optional(),
});

/** What a client sends to start a `resection.experiment` job (defaults not yet applied). */
export type ExperimentJobParams = z.input<typeof ExperimentParams>;

const Model = z.string().min(1);
const EditId = z.number().int().positive();

export const resectionMethods = {
  /** Experts chosen by a rule from an atlas (id under atlases/ or a folder): counts per group and domain, the list, the mask. */
  'resection.select': {
    params: z.object({ atlas: z.string().min(1), rule: SelectionRuleSchema, limit: z.number().int().min(0).max(100_000).default(2000) }),
    result: SelectionResult,
  },
  /** Cosine similarity of the domains' mean routing vectors, per routing group: which domains can be told apart. */
  'resection.similarity': {
    params: z.object({ atlas: z.string().min(1) }),
    result: z.object({
      domains: z.array(z.string()),
      groups: z.array(z.array(z.array(z.number()))),
      /** Per domain, the other domain routed most alike (mean cosine over groups). */
      closest: z.array(z.object({ domain: z.string(), cosine: z.number() }).nullable()),
    }),
  },
  'resection.edits': { params: z.object({ model: Model }), result: EditStack },
  /** Adds a named edit: a given mask, or the mask of a rule applied to an atlas. */
  'resection.apply': {
    params: z.object({
      model: Model, name: z.string().trim().min(1).max(200),
      mask: MaskJsonSchema.optional(),
      atlas: z.string().min(1).optional(), rule: SelectionRuleSchema.optional(),
      recipe: z.record(z.string(), z.unknown()).default({}),
    }),
    result: EditStack,
  },
  'resection.toggle': { params: z.object({ id: EditId, enabled: z.boolean() }), result: EditStack },
  'resection.delete': { params: z.object({ id: EditId }), result: EditStack },
  'resection.undo': { params: z.object({ model: Model }), result: EditStack },
  'resection.redo': { params: z.object({ model: Model }), result: EditStack },
  /** Removes or restores one expert by hand (as its own edit), for the whole routing group or one layer. */
  'resection.expert': {
    params: z.object({
      model: Model, group: z.number().int().min(0), expert: z.number().int().min(0), action: z.enum(['remove', 'restore']),
      layer: z.number().int().min(0).nullish(),
    }),
    result: EditStack,
  },
  /** Starts a `resection.evaluate` job of the active stack (before = no mask, after = the stack). */
  'resection.evaluate': {
    params: EvaluateParams.omit({ mask: true, edits: true }),
    result: z.object({ jobId: z.string(), removed: z.number() }),
  },
  /** Starts a `resection.export` job of the active stack (the recipe lists the edits and the latest evaluation). */
  'resection.export': {
    params: z.object({ model: Model, out: z.string().min(1), baked: z.boolean().default(false), copy: z.boolean().default(false), onnx: z.boolean().default(false) }),
    result: z.object({ jobId: z.string(), bakeable: z.boolean(), reason: z.string().nullable() }),
  },
} as const;

export const resectionEvents = {
  /** A model's edit stack changed. */
  'resection.changed': z.object({ model: z.string() }),
} as const;
