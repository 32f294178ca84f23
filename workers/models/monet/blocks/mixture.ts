/**
 * A layer's expert mixture in the general form (spec §3.3), for both decompositions, with the exact removal of
 * masked experts (§3.4 b). The removed part Σ_{(i,j) removed} g·E_ij(x) expands term by term into row / column sums
 * (subtracted from the coefficients c1 / c2) and cross terms (subtracted from p12 / p21, or y for HD).
 *
 * The removed experts come as a block: the A distinct rows i and B distinct columns j they touch, and an A×B 0/1
 * matrix R saying which (i, j) of the block are removed. Every correction is then a small dense product through R
 * (N·H·A·B·width multiply-adds per term, bounded by the dense E² form), so its cost does not grow with the number of
 * removed experts K. The earlier pair-list form built [tokens, K, width] tensors and scattered them with `add`: at
 * K = 4,500 of 65,536 experts it made a forward 10× slower.
 */
import { op, type Tensor } from '../../../engine';
import { linear, relu2, type TokenShape } from './core';
import type { Gates } from './router';
import type { Affine, MoeWeights } from './weights';

/** Experts removed from one layer's mixture. */
export interface ExpertMask {
  /** Per-head multipliers [H, E] of g1 / g2: 0 removes sub-expert row i / column j (§3.3). */
  keep?: Gates;
  /** Composite experts (i, j) removed by the exact correction (§3.4 b). */
  block?: MaskedBlock;
}

/** Removed composite experts as a block: rows[a] = i, cols[b] = j, removed[a, b] = 1 when (i, j) is removed. */
export interface MaskedBlock {
  /** int64 [A], distinct. */
  rows: Tensor;
  /** int64 [B], distinct. */
  cols: Tensor;
  /** float32 [A, B], 0 or 1. */
  removed: Tensor;
}

/**
 * The mixture's output [tokens, d] for x̃ [tokens, d]. Exact for any gates, zeroed ones included, and equal to the
 * stock decomposed code when nothing is masked. Experts are removed from the already-zeroed gates, so an expert inside
 * a removed row is not removed twice.
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
  const masked = mask.block ? blockCorrection(g1, g2, mask.block) : null;
  if (masked) {
    c1 = masked.fromSums(c1, 'i');
    c2 = masked.fromSums(c2, 'j');
  }
  /** The cross term gtᵀ·(g·a) over the heads, [N, E, width], less the removed experts' share on index `on`. */
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

/**
 * The removed experts' shares, subtracted at their row (i) or column (j) index. With g1r = g1 at the block's rows
 * [N, H, A] and g2c = g2 at its columns [N, H, B]:
 *   on i: r[a] = Σ_h g1r[h,a]·Σ_b R[a,b]·g2c[h,b]         P[a] = Σ_h g1r[h,a]·Σ_b R[a,b]·g2c[h,b]·a[cols[b]]
 *   on j: r[b] = Σ_h g2c[h,b]·Σ_a R[a,b]·g1r[h,a]         P[b] = Σ_h g2c[h,b]·Σ_a R[a,b]·g1r[h,a]·a[rows[a]]
 * and r / P are spread back to the E indices (rows and columns are distinct).
 */
function blockCorrection(g1: Tensor, g2: Tensor, block: MaskedBlock) {
  // Per side: its gates at its block indices, and the 0/1 matrix [m, n] from the other side's m indices to its n.
  const side = {
    i: { g: op.gather(g1, block.rows, 2), at: block.rows, fromOther: op.transpose(block.removed, [1, 0]) }, // [N, H, A]; [B, A]
    j: { g: op.gather(g2, block.cols, 2), at: block.cols, fromOther: block.removed }, // [N, H, B]; [A, B]
  };
  const other = (on: 'i' | 'j') => side[on === 'i' ? 'j' : 'i'];
  // Back from the block to all E indices by a one-hot GEMM: ONNX Runtime's ScatterElements runs element by element
  // on one thread and cost more than everything else here.
  const E = g1.shape[2] as number;
  const positions = op.range(g1.graph, 0, E);
  const oneHot = { i: op.cast(op.equal(op.unsqueeze(block.rows, [1]), positions), 'float32'), j: op.cast(op.equal(op.unsqueeze(block.cols, [1]), positions), 'float32') }; // [n, E]
  /** t − v spread to the side's indices: v [N, n] for t [N, E]; v [N, width, n] for t [N, E, width]. */
  const subtractAt = (t: Tensor, v: Tensor, on: 'i' | 'j'): Tensor => {
    const spread = op.matMul(v, oneHot[on]); // [N, E] or [N, width, E]
    return op.sub(t, v.rank === 2 ? spread : op.transpose(spread, [0, 2, 1]));
  };
  return {
    /** c − r, for c [N, E]. */
    fromSums: (c: Tensor, on: 'i' | 'j'): Tensor => {
      const own = side[on];
      const r = op.reduceSum(op.mul(own.g, op.matMul(other(on).g, own.fromOther)), [1]); // [N, n]
      return subtractAt(c, r, on);
    },
    /** p − P, for p and a [N, E, width] (a indexed by the other side). */
    fromCross: (p: Tensor, a: Tensor, on: 'i' | 'j'): Tensor => {
      const own = side[on];
      const o = other(on);
      // z[h, w, b] = g[h, b]·a[b, w] over the other side's m indices, then one GEMM [N·H·width, m] × [m, n].
      const z = op.mul(op.unsqueeze(o.g, [2]), op.unsqueeze(op.transpose(op.gather(a, o.at, 1), [0, 2, 1]), [1])); // [N, H, width, m]
      const zr = op.matMul(z, own.fromOther); // [N, H, width, n]
      const P = op.reduceSum(op.mul(op.unsqueeze(own.g, [2]), zr), [1]); // [N, width, n]
      return subtractAt(p, P, on);
    },
  };
}
