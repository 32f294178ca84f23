// The contract every part of Resect's sparse-autoencoder code shares: the trainer (workers/sae/train*),
// the activation cache (workers/sae/activations*), the file formats (workers/sae/io/*), evaluation, the jobs, the
// API and the renderer. Weights use SAE Lens's names and shapes so that saving in its layout is a rename-free write.
//
// Every method is expressed as one JumpReLU-shaped encoder/decoder pair, the form SAE Lens loads:
//   pre    = (x_norm − b_dec) · W_enc + b_enc              [tokens, dSae]
//   f      = act(pre)                                      (see SaeActivation)
//   x̂_norm = f · W_dec + b_dec                             [tokens, dIn]
// where x_norm = normalize(x) (SaeNormalization) and x̂ = denormalize(x̂_norm).
// GBA/BA (spec gba.md §1.1, tied weights, per-neuron scale a_m, pre-bias b_pre, adapted bias b_m ∈ [−1, 0]) map onto it
// exactly: W_enc = Wᵀ (unit rows w_m), b_enc = 0, threshold_m = −b_m, W_dec[m] = a_m · w_m, b_dec = b_pre.

/** Training methods. `gba`: groups with geometric target frequencies; `ba`: one group; `topk`: K largest per
 * token (untied) with an auxiliary dead-latent loss; `relu-l1`: ReLU with a decoder-norm-weighted L1 penalty. */
export type SaeMethod = 'gba' | 'ba' | 'topk' | 'relu-l1';

/** How `pre` becomes the code `f`.
 * - jumprelu: f = pre · 1[pre > threshold] (GBA/BA: the gated raw projection, threshold = −b_m)
 * - relu:     f = max(0, pre)
 * - topk:     f = relu(pre) kept only at the k largest entries of each row */
export type SaeActivation =
  | { kind: 'jumprelu' }
  | { kind: 'relu' }
  | { kind: 'topk'; k: number };

/** Where activations come from. `model` is a workspace model id or folder; hooks are named as users of
 * TransformerLens / SAE Lens expect, per block l (0-based):
 * - `blocks.{l}.hook_resid_post` residual stream after block l
 * - `blocks.{l}.hook_attn_out`   attention output of block l
 * - `blocks.{l}.hook_mlp_out`    MoE (expert layer) output of block l
 * `external` marks activations imported from a file (any model). */
export interface SaeHook {
  model: string;
  name: string;
  layer: number;
  kind: 'resid_post' | 'attn_out' | 'mlp_out' | 'external';
}

/** Dataset-level input normalization, fitted on the activation cache and stored with the SAE so that encoding
 * new text applies the same map: x_norm = (x − mean) · scale. `none` keeps x as is. `per-token` (spec §7 Q3's other
 * reading, a trainer option) maps every x − mean to norm `scale`: x_norm = (x − mean) · scale / ‖x − mean‖. */
export interface SaeNormalization {
  kind: 'none' | 'dataset-scale' | 'per-token';
  /** [dIn] or absent (no centering). */
  mean?: Float32Array;
  /** One scalar: E‖x − mean‖ becomes the trainer's normTarget (default 1, the input norm GBA's bias range [−1, 0] assumes) — or 1 for `none`. */
  scale: number;
}

/** Weights, in SAE Lens names. Row-major Float32Arrays. */
export interface SaeWeights {
  /** [dIn, dSae] */
  W_enc: Float32Array;
  /** [dSae] */
  b_enc: Float32Array;
  /** [dSae, dIn] */
  W_dec: Float32Array;
  /** [dIn] */
  b_dec: Float32Array;
  /** [dSae]; present for jumprelu. */
  threshold?: Float32Array;
}

export interface SaeConfig {
  method: SaeMethod;
  activation: SaeActivation;
  dIn: number;
  dSae: number;
  hook: SaeHook;
  normalization: SaeNormalization;
  /** Exclude the prepended BOS position when collecting activations (default true). */
  excludeBos: boolean;
  /** Method hyperparameters as trained (GBA: groups, frequency range, T, γ, …; TopK: k, auxK; L1: λ). */
  hyper: Record<string, number | string | boolean>;
}

/** GBA/BA state that SAE Lens has no field for; saved beside the weights in the same folder. */
export interface GbaState {
  /** [dSae] group index of each latent. */
  group: Int32Array;
  /** [numGroups] target activation frequency of each group. */
  targetFrequency: Float32Array;
  /** [dSae] the adapted bias b_m ∈ [−1, 0] (threshold = −bias). */
  bias: Float32Array;
  /** [dSae] per-neuron output scale a_m. */
  scale: Float32Array;
}

/** A trained or imported SAE, in memory. */
export interface Sae {
  config: SaeConfig;
  weights: SaeWeights;
  gba?: GbaState;
}

/** Where a trainer's activations come from: the activation cache (workers/sae/cache*), an imported file, or memory
 * (workers/sae/train-source.ts). */
export interface ActivationSource {
  /** Width of one activation vector. */
  readonly dIn: number;
  /** Tokens available (one epoch). */
  readonly numTokens: number;
  /** Batches of `batchSize` raw (un-normalized) activations, row-major [batchSize, dIn], in an order fixed by
   * `seed`; only full batches. `startBatch` skips that many batches of the same order (resuming a run): the
   * sequence from `startBatch` must equal the full sequence with its first `startBatch` batches dropped. */
  batches(batchSize: number, seed: number, startBatch?: number): AsyncIterable<Float32Array>;
  /** A normalization fitted on the whole source (the cache's); the trainer fits one on a sample when absent. */
  readonly normalization?: SaeNormalization;
  /** What the activations are; `external` when unknown. */
  readonly hook?: SaeHook;
  /** Whether the BOS position was left out when collecting (default true). */
  readonly excludeBos?: boolean;
}

/** What one training step reports (the trainer's onStep; the job's metrics.jsonl adds a type and a time). */
export interface SaeStepMetrics {
  step: number;
  totalSteps: number;
  tokens: number;
  /** The objective (½‖x̂ − x‖² per token, plus L1 or AuxK). */
  loss: number;
  /** Mean ‖x̂ − x‖² per token (normalized inputs). */
  mse: number;
  /** 1 − Σ‖x̂ − x‖² / Σ‖x − x̄‖² over the batch. */
  fve: number;
  /** Mean active latents per token. */
  l0: number;
  /** Fraction of latents that have not fired over deadTokens tokens (or since the start, before that many). */
  dead: number;
  lr: number;
  /** GBA/BA: each group's target and the realized rate over its last closed window (NaN before one closed). */
  groups?: { target: number[]; realized: number[] };
  /** TopK: the AuxK term. */
  aux?: number;
  stepMs: number;
}
