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
}

export interface LayerResult {
  /** The residual stream after the layer, [tokens, d]. */
  x: Tensor;
  /** The post-attention RMSNorm output, [tokens, d]. */
  xt: Tensor;
  /** The expert mixture's output, [tokens, d]. */
  moe: Tensor;
  /** The gates `route` returned (before the mask's keep multipliers). */
  gates: Gates;
  /** Keys and values of the past and new tokens: the updated KV cache. */
  k: Tensor;
  v: Tensor;
}

export function decoderLayer(x: Tensor, w: LayerWeights, ctx: LayerContext): LayerResult {
  const { config: c, shape } = ctx;
  const attn = attention(rmsNorm(x, w.inputNorm, c.rms_norm_eps), w.attention, c.num_attention_heads, shape, ctx.attention);
  const h = op.add(x, attn.out);
  const xt = rmsNorm(h, w.postNorm, c.rms_norm_eps);
  const gates = ctx.route(xt);
  const moe = expertMixture(xt, gates, w.moe, shape, ctx.mask);
  return { x: op.add(h, moe), xt, moe, gates, k: attn.k, v: attn.v };
}
