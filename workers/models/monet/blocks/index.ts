/**
 * The Monet decoder as small graph building blocks (spec §2, §3), shared by the three graph builders: `forward.ts`
 * (one eval graph, exact masking), `layers.ts` (one graph per layer: KV cache, padding, masks) and `train-graph.ts`
 * (batch-statistics routers, aux losses). The builders differ only in where inputs, weights and thresholds come
 * from; the computation is written once, here.
 *
 * Activations are flat [tokens = batch·time, d]; `TokenShape` names the token dims, dynamic ('batch', 'time') or
 * static. Blocks take typed weight records (`layerWeights`), built from checkpoint names (spec §7.3).
 */
export * from './core';
export * from './weights';
export * from './attention';
export * from './router';
export * from './mixture';
export * from './layer';
