/**
 * The training presets as the Train view shows them: model size and the main hyper-parameters. Mirrors
 * workers/training/presets.ts (which the renderer cannot import: it reads files); test/backend/train-metrics.test.ts
 * checks that the two agree. vocab_size is not here: it always follows the tokenizer.
 */
export interface ModelSize {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  moe_heads: number;
  moe_experts: number;
  moe_dim: number;
  moe_topk: number;
  moe_groups: number;
}

export interface TrainPresetView {
  name: 'tiny' | 'default';
  description: string;
  model: ModelSize;
  steps: number;
  batch: number;
  seqLen: number;
  lr: number;
}

export const trainPresets: TrainPresetView[] = [
  {
    name: 'tiny',
    description: 'a quick test: d 32, 2 layers, 2 routing heads, E 8',
    model: { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, moe_heads: 2, moe_experts: 8, moe_dim: 4, moe_topk: 2, moe_groups: 1 },
    steps: 30, batch: 4, seqLen: 16, lr: 1e-2,
  },
  {
    name: 'default',
    description: 'the embedded default model: d 256, 4 layers, 4 routing heads, E 256 (65,536 experts per layer)',
    model: { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, moe_heads: 4, moe_experts: 256, moe_dim: 2, moe_topk: 4, moe_groups: 2 },
    steps: 1000, batch: 8, seqLen: 256, lr: 2e-3,
  },
];

/** Labels of the size fields, in form order. */
export const sizeFields: { key: keyof ModelSize; label: string; hint: string }[] = [
  { key: 'hidden_size', label: 'd (hidden size)', hint: 'a multiple of the attention heads' },
  { key: 'num_hidden_layers', label: 'Layers', hint: 'a multiple of moe_groups' },
  { key: 'num_attention_heads', label: 'Attention heads', hint: '' },
  { key: 'moe_heads', label: 'Routing heads (H)', hint: '' },
  { key: 'moe_experts', label: 'Sub-experts per side (E)', hint: 'E² composite experts per layer' },
  { key: 'moe_dim', label: 'Expert width (m)', hint: '' },
  { key: 'moe_topk', label: 'k (sub-experts per head)', hint: 'sets the BN threshold' },
  { key: 'moe_groups', label: 'moe_groups', hint: 'layers sharing one router' },
];

/** Approximate parameter count of a Monet-VD model (embeddings, attention, MoE, routers, norms, LM head). */
export function approxParams(m: ModelSize, vocab: number): number {
  const d = m.hidden_size;
  const L = m.num_hidden_layers;
  const E = m.moe_experts;
  const routers = Math.ceil(L / m.moe_groups);
  const attn = 4 * d * d;
  const moe = 2 * E * d * m.moe_dim + 2 * E * m.moe_dim + d; // u1/u2 up, v11.. down, biases
  const router = 2 * m.moe_heads * E * d;
  return 2 * vocab * d + L * (attn + moe + 2 * d) + routers * router + d;
}
