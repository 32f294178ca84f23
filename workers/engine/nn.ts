// Layers and losses composed from ops; autodiff differentiates them through their parts.
import { type Tensor, GraphError, fmtShape } from './graph';
import {
  add, cast, div, equal, erf, gatherElements, gemm, logSoftmax, matMul, mul, neg, not, reduceMean, reduceSum,
  sqrt, sub, softmax, trilu, transpose, unsqueeze, where, maximum, constantOfShape, concat, shape,
} from './ops';

/** x @ w (+ b); 2-D inputs use Gemm, batched ones MatMul. */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  if (x.rank === 2) return gemm(x, w, b ?? null);
  const y = matMul(x, w);
  return b ? add(y, b) : y;
}

export function gelu(x: Tensor): Tensor {
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

/** x / sqrt(mean(x², last axis) + eps) · weight */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  const ms = reduceMean(mul(x, x), [-1], true);
  return mul(div(x, sqrt(add(ms, eps))), weight);
}

export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  const d = sub(pred, target);
  return reduceMean(mul(d, d));
}

/**
 * Mean cross-entropy of logits [..., C] against int64 labels [...], skipping labels equal to ignoreIndex
 * (the decomposition of ONNX SoftmaxCrossEntropyLoss, so that autodiff sees LogSoftmax and GatherElements).
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, ignoreIndex?: number): Tensor {
  if (labels.rank !== logits.rank - 1) {
    throw new GraphError(`SoftmaxCrossEntropy: labels ${fmtShape(labels.shape)} must have one axis fewer than logits ${fmtShape(logits.shape)}`);
  }
  if (labels.dtype !== 'int64') throw new GraphError(`SoftmaxCrossEntropy: labels must be int64, got ${labels.dtype}`);
  const lp = logSoftmax(logits, -1);
  let idx = unsqueeze(labels, [-1]);
  if (ignoreIndex === undefined) return neg(reduceMean(gatherElements(lp, idx, -1)));
  const keep = not(equal(idx, ignoreIndex));
  idx = where(keep, idx, 0);
  const picked = where(keep, gatherElements(lp, idx, -1), 0);
  const n = maximum(reduceSum(cast(keep, logits.dtype)), 1);
  return neg(div(reduceSum(picked), n));
}

/**
 * Causal self-attention over q, k, v [batch, heads, time, dh]: scores masked above the diagonal
 * (Trilu + Where), softmax over keys.
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor): Tensor {
  const dh = q.shape[q.rank - 1]!;
  if (typeof dh !== 'number') throw new GraphError(`causalAttention: the head dim of q ${fmtShape(q.shape)} must be static`);
  const scores = div(matMul(q, transpose(k, [0, 1, 3, 2])), Math.sqrt(dh));
  const t = q.shape[q.rank - 2]!;
  const tt = typeof t === 'number' ? [t, t] : concat([shape(q, -2, -1), shape(q, -2, -1)], 0);
  const ones = constantOfShape(q.graph, tt, 1, 'int64');
  // Trilu keeps the lower triangle (the keys a query may see); the rest becomes -inf-like before softmax.
  const allowed = cast(trilu(ones, false), 'bool');
  const masked = where(allowed, scores, -1e9);
  return matMul(softmax(masked, -1), v);
}
