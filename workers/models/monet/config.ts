/**
 * Monet `config.json`: parsed and validated with zod (spec §7.2). The checkpoint's values always win; a code default
 * of `MonetConfig` (spec §1) is used only when the key is absent. Keys without a code default in the spec are
 * required. Derived values (head_dim, router layers, σ*) are computed here once.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { inverseNormalCdf } from './normal';

/** The schema of every MonetConfig key (spec §7.2); `.default` only where the spec names a code default. */
const schema = z.object({
  hidden_size: z.int().positive(),
  num_hidden_layers: z.int().positive(),
  num_attention_heads: z.int().positive(),
  num_key_value_heads: z.int().positive().nullish(),
  moe_decompose: z.enum(['vertical', 'horizontal']),
  moe_experts: z.int().positive(),
  moe_groups: z.int().positive(),
  moe_dim: z.int().positive().default(8),
  moe_heads: z.int().positive().default(8),
  moe_topk: z.int().positive().default(32),
  vocab_size: z.int().positive().default(32000),
  hidden_act: z.literal('relu2').default('relu2'),
  max_position_embeddings: z.int().positive().default(2048),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: z.null().optional().transform(() => null),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.literal(false).default(false),
  attention_dropout: z.number().min(0).max(1).default(0),
  bos_token_id: z.int().nonnegative().nullable().default(1),
  eos_token_id: z.union([z.int().nonnegative(), z.array(z.int().nonnegative())]).nullable().default(2),
  pad_token_id: z.int().nonnegative().nullable().default(null),
  model_type: z.string().default('monet'),
  architectures: z.array(z.string()).optional(),
  torch_dtype: z.string().nullable().optional(),
  mlp_bias: z.union([z.boolean(), z.null()]).optional(),
  intermediate_size: z.union([z.int(), z.null()]).optional(),
  pretraining_tp: z.int().positive().optional(),
  initializer_range: z.number().optional(),
  output_router_probs: z.boolean().optional(),
  use_cache: z.boolean().optional(),
  transformers_version: z.string().optional(),
});
// Unknown keys (e.g. auto_map) are dropped: nothing reads them; an export copies the original config.json.

/** What a valid value of each key is, for error messages. */
const EXPECT: Record<keyof z.input<typeof schema>, string> = {
  hidden_size: 'a positive integer',
  num_hidden_layers: 'a positive integer',
  num_attention_heads: 'a positive integer',
  num_key_value_heads: 'a positive integer (or absent)',
  moe_decompose: '"vertical" or "horizontal"',
  moe_experts: 'a positive integer',
  moe_groups: 'a positive integer',
  moe_dim: 'a positive integer',
  moe_heads: 'a positive integer',
  moe_topk: 'a positive integer',
  vocab_size: 'a positive integer',
  hidden_act: '"relu2" (the only activation Monet uses)',
  max_position_embeddings: 'a positive integer',
  rms_norm_eps: 'a positive number',
  rope_theta: 'a positive number',
  rope_scaling: 'null (RoPE scaling is not supported)',
  tie_word_embeddings: 'a boolean',
  attention_bias: 'false (Monet attention has no biases)',
  attention_dropout: 'a number in [0, 1]',
  bos_token_id: 'a token id or null',
  eos_token_id: 'a token id, a list of them, or null',
  pad_token_id: 'a token id or null',
  model_type: 'a string',
  architectures: 'a list of strings',
  torch_dtype: 'a dtype name',
  mlp_bias: 'null or a boolean',
  intermediate_size: 'null or an integer',
  pretraining_tp: 'a positive integer',
  initializer_range: 'a number',
  output_router_probs: 'a boolean',
  use_cache: 'a boolean',
  transformers_version: 'a string',
};

type RawConfig = z.output<typeof schema>;

export interface MonetConfig extends Omit<RawConfig, 'num_key_value_heads'> {
  num_key_value_heads: number;
}

/** Values derived from the config. */
export interface MonetDims {
  /** d / num_attention_heads. */
  headDim: number;
  /** Layers that own a router (l % moe_groups == 0), in order. */
  routerLayers: number[];
  /** σ* = Φ⁻¹(1 − k/E), float64 (spec §2.2). */
  sigmaStar: number;
  vertical: boolean;
}

export interface LoadedMonetConfig {
  config: MonetConfig;
  dims: MonetDims;
  /** Keys absent from the file whose code default was used. */
  defaulted: string[];
}

export class MonetConfigError extends Error {
  override readonly name = 'MonetConfigError';
}

/** The layer whose router a layer uses (the most recent layer l' ≤ l with l' % G == 0). */
export function routerLayerOf(config: Pick<MonetConfig, 'moe_groups'>, layer: number): number {
  return layer - (layer % config.moe_groups);
}

export function sigmaStar(topk: number, experts: number): number {
  return inverseNormalCdf(1 - topk / experts);
}

/**
 * Upper bounds far above any real Monet (the paper's largest: 24 layers, hidden 2048, E 512, vocab 32k), checked
 * before anything proportional to a value is built: a hostile or mistyped config.json (`num_hidden_layers: 1000000`,
 * `hidden_size: 1e9`) fails at once with the value named, instead of exhausting memory or time first.
 */
export const CONFIG_BOUNDS = {
  num_hidden_layers: 1024,
  hidden_size: 65_536,
  num_attention_heads: 1024,
  moe_experts: 4096,
  moe_dim: 65_536,
  moe_heads: 1024,
  vocab_size: 4_194_304,
  max_position_embeddings: 1_048_576,
} as const satisfies Partial<Record<keyof MonetConfig, number>>;

/** Elements one weight tensor may have: 2^31 (8 GiB as float32), within what a typed array and ONNX Runtime hold. */
export const MAX_TENSOR_ELEMENTS = 2 ** 31;

function checkBounds(config: MonetConfig, fail: (msg: string) => never): void {
  for (const [key, max] of Object.entries(CONFIG_BOUNDS) as [keyof typeof CONFIG_BOUNDS, number][]) {
    if (config[key] > max) fail(`${key} must be at most ${max.toLocaleString('en-US')}, got ${config[key]}`);
  }
  if (config.moe_groups > config.num_hidden_layers) {
    fail(`moe_groups must be at most num_hidden_layers (${config.num_hidden_layers}): one router serves moe_groups consecutive layers, got ${config.moe_groups}`);
  }
  const d = config.hidden_size;
  const largest: [string, number][] = [
    ['vocab_size × hidden_size (the embedding)', config.vocab_size * d],
    ['moe_experts × moe_dim × hidden_size (the expert projections)', config.moe_experts * config.moe_dim * d],
    ['moe_heads × moe_experts × hidden_size (a router)', config.moe_heads * config.moe_experts * d],
  ];
  for (const [what, n] of largest) {
    if (n > MAX_TENSOR_ELEMENTS) fail(`${what} = ${n.toLocaleString('en-US')} elements, more than one tensor can hold (${MAX_TENSOR_ELEMENTS.toLocaleString('en-US')})`);
  }
}

/** Validate a parsed config.json object. `file` names the source in error messages. */
export function parseMonetConfig(raw: unknown, file = 'config.json'): LoadedMonetConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new MonetConfigError(`${file}: not a JSON object`);
  const obj = raw as Record<string, unknown>;
  const result = schema.safeParse(obj);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const expect = (EXPECT as Record<string, string>)[key] ?? issue.message;
      const value = key in obj ? JSON.stringify(obj[key]) : 'nothing (the key is missing and has no default)';
      return `${key} must be ${expect}, got ${value}`;
    });
    throw new MonetConfigError(`${file}: ${[...new Set(problems)].join('; ')}`);
  }
  const c = result.data;
  const config: MonetConfig = { ...c, num_key_value_heads: c.num_key_value_heads ?? c.num_attention_heads };
  const fail = (msg: string): never => {
    throw new MonetConfigError(`${file}: ${msg}`);
  };
  if (config.num_key_value_heads !== config.num_attention_heads) {
    fail(`num_key_value_heads must equal num_attention_heads (Monet uses plain multi-head attention), got ${config.num_key_value_heads} and ${config.num_attention_heads}`);
  }
  if (config.hidden_size % config.num_attention_heads !== 0) {
    fail(`hidden_size ${config.hidden_size} must be divisible by num_attention_heads ${config.num_attention_heads}`);
  }
  const headDim = config.hidden_size / config.num_attention_heads;
  if (headDim % 2 !== 0) fail(`head_dim = hidden_size / num_attention_heads must be even for RoPE, got ${headDim}`);
  const vertical = config.moe_decompose === 'vertical';
  if (vertical && config.hidden_size % 2 !== 0) fail(`hidden_size must be even for vertical decomposition, got ${config.hidden_size}`);
  if (vertical && config.moe_dim % 2 !== 0) fail(`moe_dim must be even for vertical decomposition, got ${config.moe_dim}`);
  if (config.moe_topk > config.moe_experts) fail(`moe_topk must be at most moe_experts (${config.moe_experts}), got ${config.moe_topk}`);
  if (config.model_type !== 'monet') fail(`model_type must be "monet", got ${JSON.stringify(config.model_type)}`);
  checkBounds(config, fail);
  const routerLayers: number[] = [];
  for (let l = 0; l < config.num_hidden_layers; l += config.moe_groups) routerLayers.push(l);
  const defaulted = Object.keys(EXPECT).filter((k) => !(k in obj) && (config as unknown as Record<string, unknown>)[k] !== undefined);
  return {
    config,
    dims: { headDim, routerLayers, sigmaStar: sigmaStar(config.moe_topk, config.moe_experts), vertical },
    defaulted,
  };
}

/** Read and validate a config.json file. */
export async function loadMonetConfig(path: string): Promise<LoadedMonetConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new MonetConfigError(`${path}: cannot read (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MonetConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return parseMonetConfig(raw, path);
}
