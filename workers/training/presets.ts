/** Named training presets: a Monet config plus the optimisation settings that go with it. */
import type { MonetConfig } from '../models/monet/config';
import { parseMonetConfig } from '../models/monet/config';

export interface TrainHyper {
  /** Sequences per micro-batch. */
  batch: number;
  seqLen: number;
  /** Micro-batches per optimizer step. */
  accumulate: number;
  steps: number;
  lr: number;
  minLr: number;
  warmup: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  clipNorm: number;
  /** BN momentum (PyTorch style). */
  momentum: number;
  lambda: number;
  auxEps: number;
  seed: number;
  /** Checkpoint every this many steps (and on cancel). */
  checkpointEvery: number;
  /** Validation every this many steps (0: only at the end). */
  evalEvery: number;
  /** Validation sequences per domain at each eval. */
  evalSeqs: number;
  /** Fraction held out per domain when no held-out file is given. */
  valFraction: number;
  logEvery: number;
  /** Std of the embedding init (linear weights use config.initializer_range). */
  embedStd: number;
  /**
   * Sample training windows per domain ∝ (domain tokens)^alpha (1: by size, 0: every domain alike); null: windows of
   * one packed stream of all documents, uniformly (the default).
   */
  domainBalance?: number | null;
}

export interface Preset { description: string; config: Record<string, unknown>; hyper: TrainHyper }

const baseConfig = {
  architectures: ['MonetForCausalLM'],
  model_type: 'monet',
  hidden_act: 'relu2',
  moe_decompose: 'vertical',
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  rope_scaling: null,
  attention_bias: false,
  attention_dropout: 0.0,
  mlp_bias: null,
  intermediate_size: null,
  pretraining_tp: 1,
  tie_word_embeddings: false,
  bos_token_id: 0,
  eos_token_id: 0,
  pad_token_id: null,
  initializer_range: 0.02,
  output_router_probs: false,
  use_cache: true,
  torch_dtype: 'float32',
  transformers_version: '4.42.3',
};

const baseHyper: TrainHyper = {
  batch: 8, seqLen: 256, accumulate: 1, steps: 1000, lr: 3e-3, minLr: 3e-4, warmup: 50, weightDecay: 0.1,
  beta1: 0.9, beta2: 0.95, clipNorm: 1.0, momentum: 0.1, lambda: 1e-3, auxEps: 1e-6, seed: 1234,
  checkpointEvery: 50, evalEvery: 100, evalSeqs: 8, valFraction: 0.05, logEvery: 1, embedStd: 0.02,
};

export const presets: Record<string, Preset> = {
  tiny: {
    description: 'tests: d 32, 2 layers, E 8, vocab from the tokenizer',
    config: {
      ...baseConfig, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 2,
      moe_experts: 8, moe_dim: 4, moe_heads: 2, moe_topk: 2, moe_groups: 1, vocab_size: 6144, max_position_embeddings: 64,
    },
    hyper: { ...baseHyper, batch: 4, seqLen: 16, steps: 30, lr: 1e-2, minLr: 1e-3, warmup: 3, checkpointEvery: 10, evalEvery: 10, evalSeqs: 2 },
  },
  default: {
    description: 'the embedded default model: Monet-VD, d 256, 4 layers, 4 routing heads, E 256 (65,536 experts/layer), 2 routers',
    // E 256, m 2 (not E 64, m 8: the same expert width E·m = 512 and about the same compute): k/E = 1/64 as in the
    // paper's 1.4B models (8/512). With E 64 each composite expert fired on ~1.6% of tokens and almost none was
    // specific to one prose domain (news, government, religion, science), so removing a prose domain's experts
    // changed nothing measurable (docs/resection.md); with E 256 those domains get their own experts.
    config: {
      ...baseConfig, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 4,
      moe_experts: 256, moe_dim: 2, moe_heads: 4, moe_topk: 4, moe_groups: 2, vocab_size: 6144, max_position_embeddings: 512,
    },
    // Sized for ≤ 1 hour on a shared 2-core CPU (measured 400-1,700 tokens/s for 2,048-token steps, depending on load).
    // embedStd 1: with N(0, 0.02) embeddings the attention outputs (nearly the same vector for every token early on)
    // dominate the residual stream, the router input x̃ gets a large common component, and the sub-experts whose keys
    // align with it win for every token: routing collapses within ~20 steps (see docs/training.md).
    // lambda 3e-2 (spec: 1e-3): at 1e-3 the router of layer 2 still left a third of its (head, sub-expert) pairs
    // unused; 3e-2 kept the routing near uniform at the same cross-entropy.
    hyper: { ...baseHyper, steps: 1000, lr: 2e-3, minLr: 2e-4, warmup: 100, checkpointEvery: 25, evalEvery: 100, evalSeqs: 8, embedStd: 1, lambda: 3e-2 },
  },
};

export function presetConfig(name: string, overrides: Record<string, unknown> = {}): { raw: Record<string, unknown>; config: MonetConfig } {
  const p = presets[name];
  if (!p) throw new Error(`unknown preset ${JSON.stringify(name)} (presets: ${Object.keys(presets).join(', ')})`);
  const raw = { ...p.config, ...overrides };
  return { raw, config: parseMonetConfig(raw, `preset ${name}`).config };
}
