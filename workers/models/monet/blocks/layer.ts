/** One decoder layer: x + attention(RMSNorm x), then x̃ = RMSNorm of that, routed, and + the expert mixture of x̃. */
import { op, type Tensor } from '../../../engine';
import type { MonetConfig } from '../config';
import { attention, type AttentionContext } from './attention';
import { rmsNorm, type TokenShape } from './core';
import { expertMixture, type ExpertMask } from './mixture';
import type { Gates } from './router';
import type { LayerWeights } from './weights';

export interface LayerContext {
  config: MonetConfig;
  shape: TokenShape;
  attention: AttentionContext;
  /** The layer's gates from x̃: its own router's, or its group's (spec §2.3). */
  route: (xt: Tensor) => Gates;
  mask?: ExpertMask;
  /**
   * Replace a hook's value inside the layer (an SAE's reconstruction spliced in, or a zero ablation): `attn` gets the
   * attention output [tokens, d] and returns what is added to the residual stream instead (the post-attention norm,
   * the router and the mixture then see the replaced stream); `moe` likewise for the expert mixture's output.
   */
  replace?: { attn?: (clean: Tensor) => Tensor; moe?: (clean: Tensor) => Tensor };
}

export interface LayerResult {
  /** The residual stream after the layer, [tokens, d]. */
  x: Tensor;
  /** The post-attention RMSNorm output, [tokens, d]. */
  xt: Tensor;
  /** The expert mixture's output, [tokens, d] (hook_mlp_out; after `replace.moe` when given). */
  moe: Tensor;
  /** The attention output (o_proj), [tokens, d] (hook_attn_out; after `replace.attn` when given). */
  attn: Tensor;
  /** The gates `route` returned (before the mask's keep multipliers). */
  gates: Gates;
  /** Keys and values of the past and new tokens: the updated KV cache. */
  k: Tensor;
  v: Tensor;
}

export function decoderLayer(x: Tensor, w: LayerWeights, ctx: LayerContext): LayerResult {
  const { config: c, shape } = ctx;
  const attn = attention(rmsNorm(x, w.inputNorm, c.rms_norm_eps), w.attention, c.num_attention_heads, shape, ctx.attention);
  const attnOut = ctx.replace?.attn ? ctx.replace.attn(attn.out) : attn.out;
  const h = op.add(x, attnOut);
  const xt = rmsNorm(h, w.postNorm, c.rms_norm_eps);
  const gates = ctx.route(xt);
  const mixture = expertMixture(xt, gates, w.moe, shape, ctx.mask);
  const moe = ctx.replace?.moe ? ctx.replace.moe(mixture) : mixture;
  return { x: op.add(h, moe), xt, moe, attn: attnOut, gates, k: attn.k, v: attn.v };
}
