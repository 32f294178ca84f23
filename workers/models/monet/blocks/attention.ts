/** Self-attention (spec §2.1): RoPE in the rotate-half layout, an additive score bias, an optional KV cache. */
import { op, type Dim, type Graph, type Tensor } from '../../../engine';
import type { MonetConfig } from '../config';
import { linear, type TokenShape } from './core';
import type { AttentionWeights } from './weights';

/** Added to the attention scores of masked keys (causal or padding). */
export const MASKED_SCORE = -1e30;

/** RoPE cos / sin, broadcastable to [batch, heads, time, hd]. */
export interface Rope {
  cos: Tensor;
  sin: Tensor;
}

/**
 * Host RoPE cos / sin of one position into `cos`, `sin` at `offset` (rotate-half layout): float32 inverse
 * frequencies and angles, as HF computes them, then cos / sin in float64 stored as float32.
 */
export function ropeRow(theta: number, hd: number, p: number, cos: Float32Array, sin: Float32Array, offset = 0): void {
  for (let k = 0; k < hd / 2; k++) {
    const invFreq = Math.fround(1 / theta ** ((2 * k) / hd));
    const angle = Math.fround(p * invFreq);
    cos[offset + k] = cos[offset + k + hd / 2] = Math.cos(angle);
    sin[offset + k] = sin[offset + k + hd / 2] = Math.sin(angle);
  }
}

/** Host RoPE tables [positions, hd] for positions 0…positions−1 (rows of `ropeRow`). */
export function ropeTables(theta: number, hd: number, positions: number): { cos: Float32Array; sin: Float32Array } {
  const cos = new Float32Array(positions * hd);
  const sin = new Float32Array(positions * hd);
  for (let p = 0; p < positions; p++) ropeRow(theta, hd, p, cos, sin, p * hd);
  return { cos, sin };
}

export function ropeFromZero(g: Graph, config: MonetConfig, time: Dim): Rope {
  const hd = config.hidden_size / config.num_attention_heads;
  const maxPos = config.max_position_embeddings;
  const tables = ropeTables(config.rope_theta, hd, maxPos);
  const positions = op.range(g, 0, op.squeeze(op.dimValue(g, time), [0]));
  const rows = (name: 'cos' | 'sin') => op.reshape(op.gather(g.initializer(`rope.${name}`, 'float32', [maxPos, hd], tables[name]), positions), [time, hd]);
  return { cos: rows('cos'), sin: rows('sin') };
}

/** The causal score bias [time, time]: MASKED_SCORE above the diagonal, 0 elsewhere. */
export const causalBias = (g: Graph, time: Dim): Tensor => op.mul(op.trilu(op.constantOfShape(g, [time, time], 1), true, 1), MASKED_SCORE);

/** x·cos + rotate_half(x)·sin, with rotate_half(x) = [−x2, x1] over the last axis. */
export function applyRope(x: Tensor, rope: Rope): Tensor {
  const half = (x.shape.at(-1) as number) / 2;
  const [x1, x2] = op.split(x, [half, half], -1) as [Tensor, Tensor];
  return op.add(op.mul(x, rope.cos), op.mul(op.concat([op.neg(x2), x1], -1), rope.sin));
}

export interface AttentionContext {
  rope: Rope;
  /** Added to the scores, broadcastable to [batch, heads, time, keys]: causal and padding masks. */
  bias: Tensor;
  /** KV cache: past keys and values [batch, heads, past, hd]; `keys` names the dim past + time. */
  past?: { k: Tensor; v: Tensor; keys: Dim };
}

export interface AttentionResult {
  /** The output projection, [tokens, d]. */
  out: Tensor;
  /** Keys and values of the past and new tokens, [batch, heads, keys, hd]: the updated KV cache. */
  k: Tensor;
  v: Tensor;
}

/** Multi-head self-attention of the normalised x [tokens, d] (no GQA). */
export function attention(x: Tensor, w: AttentionWeights, heads: number, shape: TokenShape, ctx: AttentionContext): AttentionResult {
  const d = x.shape[1] as number;
  const hd = d / heads;
  const split = (t: Tensor) => op.transpose(op.reshape(t, [shape.batch, shape.time, heads, hd]), [0, 2, 1, 3]);
  const q = applyRope(split(linear(x, w.q)), ctx.rope);
  let k = applyRope(split(linear(x, w.k)), ctx.rope);
  let v = split(linear(x, w.v));
  if (ctx.past) {
    // Reshaped to the named `keys` dim so that the tracer knows keys and values share it.
    k = op.reshape(op.concat([ctx.past.k, k], 2), [shape.batch, heads, ctx.past.keys, hd]);
    v = op.reshape(op.concat([ctx.past.v, v], 2), [shape.batch, heads, ctx.past.keys, hd]);
  }
  const scores = op.add(op.mul(op.matMul(q, op.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), ctx.bias);
  const merged = op.reshape(op.transpose(op.matMul(op.softmax(scores, -1), v), [0, 2, 1, 3]), [shape.tokens, d]);
  return { out: linear(merged, w.o), k, v };
}
