/** Token shapes and the elementary blocks: projection, RMSNorm, relu², embedding lookup, output head. */
import { op, type Dim, type Tensor } from '../../../engine';

/** The token dims of a graph: batch, time and their product, the rows of flat activations [tokens, d]. */
export interface TokenShape {
  batch: Dim;
  time: Dim;
  tokens: Dim;
}

/** Dynamic batch and time, read off the graph inputs at run time. */
export const DYNAMIC_TOKENS: TokenShape = { batch: 'batch', time: 'time', tokens: 'batch*time' };

/** Static batch and time (train graphs). */
export const staticTokens = (batch: number, time: number): TokenShape => ({ batch, time, tokens: batch * time });

/** x·Wᵀ (+ b) against a stored [out, in] weight: one Gemm with transB, no transposed copy. */
export const linear = (x: Tensor, w: Tensor, b: Tensor | null = null): Tensor => op.gemm(x, w, b, { transB: true });

/** RMSNorm in fp32 over the last axis: x·1/√(mean(x²) + eps)·w. */
export function rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
  const variance = op.reduceMean(op.mul(x, x), [-1], true);
  return op.mul(op.mul(x, op.reciprocal(op.sqrt(op.add(variance, eps)))), w);
}

export function relu2(x: Tensor): Tensor {
  const r = op.relu(x);
  return op.mul(r, r);
}

/** Embedding rows of `ids` [batch, time] as flat [tokens, d]. */
export const embed = (table: Tensor, ids: Tensor, shape: TokenShape): Tensor => op.reshape(op.gather(table, ids), [shape.tokens, table.shape[1]!]);

/** Final RMSNorm and the output projection (lm_head, or the tied embeddings): logits [tokens, V]. */
export const lmHead = (x: Tensor, norm: Tensor, head: Tensor, eps: number): Tensor => linear(rmsNorm(x, norm, eps), head);
