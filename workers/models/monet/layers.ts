/**
 * The Monet forward pass split into one ONNX graph per decoder layer plus a head graph (spec §2, §3, §8.13), so that
 * checkpoints of any size load one layer at a time: each layer's weights are read from safetensors one tensor at a
 * time, converted to float32, baked into that layer's session, and released before the next layer is read.
 *
 * Layer graph `monet.layer{l}`:
 *   inputs  x [batch, time, d]; rope_cos / rope_sin [batch, 1, time, hd] (per-row positions, computed on the host);
 *           attn_bias [batch, 1, time, total] (0 or −1e30: causal + key padding); past_k / past_v
 *           [batch, heads, past, hd] (KV cache, past may be 0); on layers that do not own a router, the group's
 *           gates g1 / g2 [batch·time, H, E]; the composite experts to remove (§3.4 b) as a block: mask_rows int64 [A],
 *           mask_cols int64 [B], mask_removed [A, B] (1 = (rows[a], cols[b]) removed; A = B = 0 removes nothing);
 *           keep1 / keep2 [H, E] (1, or 0 to remove sub-expert row i / column j per head, §3.3).
 *   outputs y [batch, time, d]; present_k / present_v [batch, heads, total, hd]; on router layers g1 / g2
 *           [batch·time, H, E] (the router's own gates, before this layer's keep multipliers); with `debug`, xt (the
 *           post-attention RMSNorm output) and moe (the expert mixture's output), both [batch·time, d]; the hook
 *           points attn_out (o_proj's output) and mlp_out (the expert mixture's output), both [batch, time, d].
 *           With `override`, an input `override` [batch, time, d] replaces that hook's value inside the layer (SAE
 *           splicing, ablations): everything after it in the layer sees the replaced value.
 * Head graph `monet.head`: inputs x [batch, time, d], targets int64 [batch, time]; outputs logits [batch, time, V]
 * and nll [batch, time] = logsumexp(logits) − logits[target].
 */
import { Graph, op } from '../../engine';
import {
  bakeWeights, checkpointThresholds, decoderLayer, DYNAMIC_TOKENS, gateShape, layerWeightNames, layerWeights, lmHead, outputWeightName,
  ownsRouterAt, router, type AttentionContext, type ExpertMask, type Gates,
} from './blocks';
import type { MonetCheckpoint } from './checkpoint';

export interface LayerGraphOptions {
  /** Also output `xt` and `moe` (for brute-force checks). */
  debug?: boolean;
  /** Add the input `override` [batch, time, d] that replaces this hook's value (see the file comment). */
  override?: 'attn_out' | 'mlp_out';
}

export function ownsRouter(ckpt: MonetCheckpoint, layer: number): boolean {
  return ownsRouterAt(ckpt.config, layer);
}

/** One decoder layer as a graph (see the file comment for its inputs and outputs). */
export async function buildMonetLayer(ckpt: MonetCheckpoint, l: number, options: LayerGraphOptions = {}): Promise<Graph> {
  const c = ckpt.config;
  const d = c.hidden_size;
  const nh = c.num_attention_heads;
  const hd = ckpt.dims.headDim;
  const H = c.moe_heads;
  const E = c.moe_experts;
  const g = new Graph(`monet.layer${l}`);
  const shape = DYNAMIC_TOKENS;

  const x = g.input('x', 'float32', ['batch', 'time', d]);
  // RoPE tables and the additive bias (causal + key padding) come from the host; keys and values are named 'total'
  // (read off attn_bias at run time) so the tracer knows they share it.
  const attention: AttentionContext = {
    rope: { cos: g.input('rope_cos', 'float32', ['batch', 1, 'time', hd]), sin: g.input('rope_sin', 'float32', ['batch', 1, 'time', hd]) },
    bias: g.input('attn_bias', 'float32', ['batch', 1, 'time', 'total']),
    past: { k: g.input('past_k', 'float32', ['batch', nh, 'past', hd]), v: g.input('past_v', 'float32', ['batch', nh, 'past', hd]), keys: 'total' },
  };
  const gates = gateShape(c, shape);
  const groupGates: Gates | null = ownsRouter(ckpt, l) ? null : { g1: g.input('g1', 'float32', gates), g2: g.input('g2', 'float32', gates) };
  const mask: ExpertMask = {
    block: { rows: g.input('mask_rows', 'int64', ['A']), cols: g.input('mask_cols', 'int64', ['B']), removed: g.input('mask_removed', 'float32', ['A', 'B']) },
    keep: { g1: g.input('keep1', 'float32', [H, E]), g2: g.input('keep2', 'float32', [H, E]) },
  };

  const override = options.override ? op.reshape(g.input('override', 'float32', ['batch', 'time', d]), [shape.tokens, d]) : null;
  const w = layerWeights(c, l, await bakeWeights(g, ckpt, layerWeightNames(ckpt, l)));
  const layer = decoderLayer(op.reshape(x, [shape.tokens, d]), w, {
    config: c, shape, attention, mask,
    ...(override ? { replace: options.override === 'attn_out' ? { attn: () => override } : { moe: () => override } } : {}),
    // Router layers (l % G == 0) route themselves; the others take their group's gates as inputs.
    route: (xt) => (w.router ? router(xt, w.router, { kind: 'fixed', tau: checkpointThresholds(g, ckpt, l) }, gates) : groupGates!),
  });

  g.output('present_k', layer.k);
  g.output('present_v', layer.v);
  if (w.router) {
    g.output('g1', layer.gates.g1);
    g.output('g2', layer.gates.g2);
  }
  if (options.debug) {
    g.output('xt', op.identity(layer.xt));
    g.output('moe', op.identity(layer.moe));
  }
  g.output('attn_out', op.reshape(layer.attn, ['batch', 'time', d]));
  g.output('mlp_out', op.reshape(layer.moe, ['batch', 'time', d]));
  g.output('y', op.reshape(layer.x, ['batch', 'time', d]));
  return g;
}

/** Final RMSNorm and lm_head (or the tied embeddings), with per-position NLL against `targets`. */
export async function buildMonetHead(ckpt: MonetCheckpoint): Promise<Graph> {
  const c = ckpt.config;
  const g = new Graph('monet.head');
  const x = g.input('x', 'float32', ['batch', 'time', c.hidden_size]);
  const targets = g.input('targets', 'int64', ['batch', 'time']);
  const weight = await bakeWeights(g, ckpt, [outputWeightName(c), 'model.norm.weight']);
  const logits = lmHead(op.reshape(x, ['batch*time', c.hidden_size]), weight('model.norm.weight'), weight(outputWeightName(c)), c.rms_norm_eps);
  const logp = op.logSoftmax(logits, -1);
  const picked = op.gatherElements(logp, op.reshape(targets, ['batch*time', 1]), 1);
  g.output('logits', op.reshape(logits, ['batch', 'time', c.vocab_size]));
  g.output('nll', op.reshape(op.neg(picked), ['batch', 'time']));
  return g;
}
