/**
 * The eval-mode Monet forward pass as one engine graph (spec §2, §3, §8), composed of the decoder blocks of
 * `blocks/` with the checkpoint's weights and router thresholds baked in.
 *
 * Activations are kept flat as [N = batch·time, d] so every projection is one Gemm against the stored [out, in]
 * weight (transB, no transposed copy). Expert mixing always uses the normalization-free "general form" of spec §3.3,
 * which equals the stock decomposed code when nothing is masked and stays exact when gates are zeroed; with
 * `masking`, each layer also takes a list of composite experts (i, j) to remove and applies the sparse exact
 * correction of spec §3.4(b). Masks are graph inputs, so one compiled graph serves every mask (an empty list
 * removes nothing).
 */
import { Graph, op, type Tensor } from '../../engine';
import {
  bakeWeights, causalBias, checkpointThresholds, decoderLayer, DYNAMIC_TOKENS, embed, gateShape, layerWeightNames, layerWeights,
  lmHead, outputWeightName, ropeFromZero, router, type Gates,
} from './blocks';
import type { MonetCheckpoint } from './checkpoint';
import { expertBlock } from './mask';
import { hookName, type HookKind } from './hooks';

export interface MonetForwardOptions {
  /**
   * Add per-layer mask inputs `mask.{l}.rows` / `mask.{l}.cols` (int64 [A_l], [B_l]) and `mask.{l}.removed` (float32
   * [A_l, B_l]), the block `maskFeeds` builds, and the exact masking correction.
   */
  masking?: boolean;
  /**
   * Output each router's gates `router.{r}.g1` / `router.{r}.g2` [batch, time, H, E] (default true), r being the
   * routing group (router of layer r·G), as in the fixtures' expected.safetensors.
   */
  routerOutputs?: boolean;
  /**
   * Also output every hook point of every block (hooks.ts): `blocks.{l}.hook_resid_post`, `blocks.{l}.hook_attn_out`
   * and `blocks.{l}.hook_mlp_out`, each [batch, time, d].
   */
  hookOutputs?: boolean;
}

/** Build the forward graph: input `input_ids` int64 [batch, time]; output `logits` float32 [batch, time, vocab]. */
export async function buildMonetForward(ckpt: MonetCheckpoint, options: MonetForwardOptions = {}): Promise<Graph> {
  const c = ckpt.config;
  const routerOutputs = options.routerOutputs ?? true;
  const H = c.moe_heads;
  const E = c.moe_experts;
  const g = new Graph('monet');
  const shape = DYNAMIC_TOKENS;
  const ids = g.input('input_ids', 'int64', ['batch', 'time']);
  const attention = { rope: ropeFromZero(g, c, 'time'), bias: causalBias(g, 'time') };
  const weight = await bakeWeights(g, ckpt, ['model.embed_tokens.weight']);

  let x = embed(weight('model.embed_tokens.weight'), ids, shape);
  let gates: Gates | null = null;
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const w = layerWeights(c, l, await bakeWeights(g, ckpt, layerWeightNames(ckpt, l)));
    const [A, B] = [`mask_${l}_rows`, `mask_${l}_cols`];
    const mask = options.masking
      ? { block: { rows: g.input(`mask.${l}.rows`, 'int64', [A]), cols: g.input(`mask.${l}.cols`, 'int64', [B]), removed: g.input(`mask.${l}.removed`, 'float32', [A, B]) } }
      : {};
    const layer = decoderLayer(x, w, {
      config: c, shape, attention, mask,
      // Layers l % G == 0 own a router; later layers of the group reuse its gates.
      route: (xt) => (w.router ? router(xt, w.router, { kind: 'fixed', tau: checkpointThresholds(g, ckpt, l) }, gateShape(c, shape)) : gates!),
    });
    if (w.router) {
      gates = layer.gates;
      if (routerOutputs) {
        const group = l / c.moe_groups;
        g.output(`router.${group}.g1`, op.reshape(gates.g1, ['batch', 'time', H, E]));
        g.output(`router.${group}.g2`, op.reshape(gates.g2, ['batch', 'time', H, E]));
      }
    }
    x = layer.x;
    if (options.hookOutputs) {
      const out = (kind: HookKind, t: Tensor) => g.output(hookName({ layer: l, kind }), op.reshape(op.identity(t), ['batch', 'time', c.hidden_size]));
      out('attn_out', layer.attn);
      out('mlp_out', layer.moe);
      out('resid_post', x);
    }
  }

  const head = await bakeWeights(g, ckpt, ['model.norm.weight', outputWeightName(c)]);
  const logits = lmHead(x, head('model.norm.weight'), head(outputWeightName(c)), c.rms_norm_eps);
  g.output('logits', op.reshape(logits, ['batch', 'time', c.vocab_size]));
  return g;
}

/** A mask input's value: int64 rows / columns or the float32 0/1 block. */
export type MaskFeed = { dtype: 'int64'; data: BigInt64Array; dims: number[] } | { dtype: 'float32'; data: Float32Array; dims: number[] };

/**
 * Feeds for the mask inputs of a graph built with `masking`: flat expert ids (i·E + j) per layer, as the block
 * (rows, columns, 0/1 matrix) the mixture's correction takes; layers not listed get an empty block.
 */
export function maskFeeds(ckpt: MonetCheckpoint, masks: ReadonlyMap<number, readonly number[]>): Record<string, MaskFeed> {
  const E = ckpt.config.moe_experts;
  const feeds: Record<string, MaskFeed> = {};
  for (let l = 0; l < ckpt.config.num_hidden_layers; l++) {
    let block;
    try {
      block = expertBlock(E, masks.get(l) ?? []);
    } catch (e) {
      throw new RangeError(`layer ${l}: ${(e as Error).message}`);
    }
    feeds[`mask.${l}.rows`] = { dtype: 'int64', data: block.rows, dims: [block.rows.length] };
    feeds[`mask.${l}.cols`] = { dtype: 'int64', data: block.cols, dims: [block.cols.length] };
    feeds[`mask.${l}.removed`] = { dtype: 'float32', data: block.removed, dims: [block.rows.length, block.cols.length] };
  }
  return feeds;
}
