/**
 * Typed weight records of a decoder layer, looked up by checkpoint name (spec §7.3), and the baking of checkpoint
 * tensors into a graph for the eval builders (the train graph looks its params up instead).
 */
import type { Graph, Tensor } from '../../../engine';
import type { MonetCheckpoint } from '../checkpoint';
import type { MonetConfig } from '../config';

export type WeightLookup = (name: string) => Tensor;

export interface Affine {
  weight: Tensor;
  bias: Tensor;
}

export interface AttentionWeights {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  o: Tensor;
}

export interface RouterWeights {
  w1: Tensor;
  w2: Tensor;
}

/** Expert weights of one layer: vertical (VD) or horizontal (HD) decomposition (spec §3.1). */
export type MoeWeights =
  | { kind: 'vertical'; u1: Affine; u2: Affine; v11: Tensor; v12: Tensor; v21: Tensor; v22: Tensor; b1: Tensor; b2: Tensor }
  | { kind: 'horizontal'; u: Affine; v: Tensor; b: Tensor };

export interface LayerWeights {
  inputNorm: Tensor;
  attention: AttentionWeights;
  postNorm: Tensor;
  /** Only on the layers that own a router (l % G == 0). */
  router: RouterWeights | null;
  moe: MoeWeights;
}

export const ownsRouterAt = (config: MonetConfig, layer: number): boolean => layer % config.moe_groups === 0;

/** BatchNorm buffers of a router (running stats, `num_batches_tracked`): checkpoint tensors, not graph weights. */
export const isRouterBuffer = (name: string): boolean => /\.router\.norm[12]\./.test(name);

/** The output projection's weight: lm_head, or the embeddings when tied. */
export const outputWeightName = (config: MonetConfig): string => (config.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');

/** The weights of decoder layer `layer`. */
export function layerWeights(config: MonetConfig, layer: number, weight: WeightLookup): LayerWeights {
  const w = (name: string) => weight(`model.layers.${layer}.${name}`);
  const affine = (name: string): Affine => ({ weight: w(`${name}.weight`), bias: w(`${name}.bias`) });
  const moe: MoeWeights = config.moe_decompose === 'vertical'
    ? {
      kind: 'vertical', u1: affine('moe.u1'), u2: affine('moe.u2'),
      v11: w('moe.v11.weight'), v12: w('moe.v12.weight'), v21: w('moe.v21.weight'), v22: w('moe.v22.weight'),
      b1: w('moe.b1'), b2: w('moe.b2'),
    }
    : { kind: 'horizontal', u: affine('moe.u'), v: w('moe.v.weight'), b: w('moe.b') };
  return {
    inputNorm: w('input_layernorm.weight'),
    attention: { q: w('self_attn.q_proj.weight'), k: w('self_attn.k_proj.weight'), v: w('self_attn.v_proj.weight'), o: w('self_attn.o_proj.weight') },
    postNorm: w('post_attention_layernorm.weight'),
    router: ownsRouterAt(config, layer) ? { w1: w('router.w1.weight'), w2: w('router.w2.weight') } : null,
    moe,
  };
}

/** The checkpoint names of decoder layer `layer`'s weights (its router's BN buffers excluded). */
export const layerWeightNames = (ckpt: MonetCheckpoint, layer: number): string[] =>
  [...ckpt.specs.keys()].filter((name) => name.startsWith(`model.layers.${layer}.`) && !isRouterBuffer(name));

/**
 * Bakes checkpoint tensors into `g` as float32 initializers, each read and converted on its own (a BF16 checkpoint is
 * never held twice), and returns a lookup over everything baked into `g` so far.
 */
export async function bakeWeights(g: Graph, ckpt: MonetCheckpoint, names: Iterable<string>): Promise<WeightLookup> {
  for (const name of names) {
    if (!g.initializers.has(name)) g.initializer(name, 'float32', ckpt.specs.get(name)!.shape, await ckpt.read(name));
  }
  return (name) => {
    const baked = g.initializers.get(name);
    if (!baked) throw new Error(`weight ${name} was not baked into ${g.name}`);
    return baked.tensor;
  };
}

/** The checkpoint's router thresholds of layer `layer` (closed form in float64, spec §2.2) as [H, 1] initializers. */
export function checkpointThresholds(g: Graph, ckpt: MonetCheckpoint, layer: number): [Tensor, Tensor] {
  const { tau1, tau2 } = ckpt.thresholds.get(layer)!;
  const tau = (side: 1 | 2, t: ArrayLike<number>) =>
    g.initializer(`model.layers.${layer}.router.tau${side}`, 'float32', [ckpt.config.moe_heads, 1], Float32Array.from(t));
  return [tau(1, tau1), tau(2, tau2)];
}
