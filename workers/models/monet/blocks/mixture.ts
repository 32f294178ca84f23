/**
 * A layer's expert mixture in the general form (spec §3.3), for both decompositions, with the exact removal of
 * masked experts (§3.4 b). For the K masked composite experts (i_k, j_k) with weights w_k = Σ_h g1[h,i_k]·g2[h,j_k],
 * the removed part Σ_k w_k·E_{i_k j_k}(x) expands term by term into row / column sums of w (subtracted from the
 * coefficients c1 / c2) and w-weighted cross terms (subtracted from p12 / p21, or y for HD).
 */
import { op, type Dim, type Tensor } from '../../../engine';
import { linear, relu2, type TokenShape } from './core';
import type { Gates } from './router';
import type { Affine, MoeWeights } from './weights';

/** Experts removed from one layer's mixture. */
export interface ExpertMask {
  /** Per-head multipliers [H, E] of g1 / g2: 0 removes sub-expert row i / column j (§3.3). */
  keep?: Gates;
  /** Composite experts (i_k, j_k), int64 [count], removed by the sparse exact correction (§3.4 b). */
  pairs?: MaskedPairs;
}

export interface MaskedPairs {
  i: Tensor;
  j: Tensor;
  count: Dim;
}

/**
 * The mixture's output [tokens, d] for x̃ [tokens, d]. Exact for any gates, zeroed ones included, and equal to the
 * stock decomposed code when nothing is masked. Pairs are removed from the already-zeroed gates, so a pair inside a
 * removed row is not removed twice.
 */
export function expertMixture(xt: Tensor, gates: Gates, w: MoeWeights, shape: TokenShape, mask: ExpertMask = {}): Tensor {
  const g1 = mask.keep ? op.mul(gates.g1, mask.keep.g1) : gates.g1;
  const g2 = mask.keep ? op.mul(gates.g2, mask.keep.g2) : gates.g2;
  const E = g1.shape[2] as number;
  const N = shape.tokens;

  // Gate sums per head (1 unless gates were zeroed) and the coefficients c1[i] = Σ_h g1[h,i]·s2[h], c2[j] likewise.
  const s1 = op.reduceSum(g1, [-1], true); // [N, H, 1]
  const s2 = op.reduceSum(g2, [-1], true);
  let c1 = op.reduceSum(op.mul(g1, s2), [1]); // [N, E]
  let c2 = op.reduceSum(op.mul(g2, s1), [1]);
  const g1t = op.transpose(g1, [0, 2, 1]); // [N, E, H]
  const g2t = op.transpose(g2, [0, 2, 1]);
  const masked = mask.pairs ? pairCorrection(g1, g2, mask.pairs, N) : null;
  if (masked) {
    c1 = masked.fromSums(c1, 'i');
    c2 = masked.fromSums(c2, 'j');
  }
  /** The cross term gtᵀ·(g·a) over the heads, [N, E, width], less the masked pairs' share summed per `on` index. */
  const cross = (gt: Tensor, g: Tensor, a: Tensor, on: 'i' | 'j'): Tensor => {
    const full = op.matMul(gt, op.matMul(g, a));
    return masked ? masked.fromCross(full, a, on) : full;
  };
  /** relu²(u x̃ + b) as [N, E, width]. */
  const activations = (u: Affine) => op.reshape(relu2(linear(xt, u.weight, u.bias)), [N, E, (u.weight.shape[0] as number) / E]);
  const flat = (t: Tensor) => op.reshape(t, [N, E * (t.shape[2] as number)]);
  const scaled = (c: Tensor, a: Tensor) => op.mul(op.unsqueeze(c, [-1]), a);

  if (w.kind === 'horizontal') {
    const a = activations(w.u);
    const y = cross(g2t, g1, a, 'j'); // Σ_h g2[h,j] Σ_i g1[h,i] a[i]
    return op.add(linear(flat(y), w.v), op.matMul(c2, w.b));
  }
  const a1 = activations(w.u1);
  const a2 = activations(w.u2);
  const p12 = cross(g1t, g2, a2, 'i'); // Σ_h g1[h,i] Σ_j g2[h,j] a2[j]
  const p21 = cross(g2t, g1, a1, 'j'); // Σ_h g2[h,j] Σ_i g1[h,i] a1[i]
  const x11 = linear(flat(scaled(c1, a1)), w.v11);
  const x12 = linear(flat(p12), w.v12);
  const x13 = op.matMul(c1, w.b1);
  const x21 = linear(flat(p21), w.v21);
  const x22 = linear(flat(scaled(c2, a2)), w.v22);
  const x23 = op.matMul(c2, w.b2);
  return op.concat([op.add(op.add(x11, x12), x13), op.add(op.add(x21, x22), x23)], -1);
}

/** The masked pairs' weights w [N, K] and the subtraction of their shares, scattered with `add` onto index i_k or j_k. */
function pairCorrection(g1: Tensor, g2: Tensor, pairs: MaskedPairs, N: Dim) {
  const w = op.reduceSum(op.mul(op.gather(g1, pairs.i, 2), op.gather(g2, pairs.j, 2)), [1]); // Σ_h g1[h,i_k]·g2[h,j_k]
  return {
    /** c − r with r[e] = Σ_{k: on_k = e} w_k, for c [N, E]. */
    fromSums: (c: Tensor, on: 'i' | 'j'): Tensor =>
      op.sub(c, op.scatterElements(op.zerosLike(c), op.expand(op.unsqueeze(pairs[on], [0]), [N, pairs.count]), w, 1, 'add')),
    /** p − P with P[e] = Σ_{k: on_k = e} w_k·a[other_k], for p and a [N, E, width]. */
    fromCross: (p: Tensor, a: Tensor, on: 'i' | 'j'): Tensor => {
      const width = a.shape[2] as number;
      const updates = op.mul(op.unsqueeze(w, [-1]), op.gather(a, on === 'i' ? pairs.j : pairs.i, 1)); // [N, K, width]
      const where = op.expand(op.unsqueeze(pairs[on], [0, 2]), [N, pairs.count, width]);
      return op.sub(p, op.scatterElements(op.zerosLike(a), where, updates, 1, 'add'));
    },
  };
}
