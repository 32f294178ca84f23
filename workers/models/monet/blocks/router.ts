/**
 * The router of a routing group (spec §2.2): logits z = x̃·wᵀ [tokens, H, E] per side, the threshold
 * t = min(τ, max_e z) and a softmax over the selected logits. τ comes from BatchNorm statistics through the closed
 * form τ = μ + √(v + 1e-5)·σ*, which selects exactly the set that standardising and comparing with σ* selects.
 */
import { op, type Dim, type Tensor } from '../../../engine';
import { ROUTER_BN_EPS } from '../checkpoint';
import type { MonetConfig } from '../config';
import { linear, type TokenShape } from './core';
import type { RouterWeights } from './weights';

/** Value the router writes into unselected logits before the softmax (fp32, so exp gives exactly 0). */
export const UNSELECTED = -1e10;

/** Gates of both router sides, [tokens, H, E] each. */
export interface Gates {
  g1: Tensor;
  g2: Tensor;
}

/** Per-head BatchNorm statistics of one side's logits, [H] each. */
export interface BnStats {
  mean: Tensor;
  variance: Tensor;
}

/** Which tokens count (weights [tokens, 1, 1]: 1, or 0 on pads) and how many do (a scalar ≥ 1). */
export interface ValidTokens {
  weights: Tensor;
  count: Tensor;
}

/**
 * Where the thresholds τ come from:
 * - `fixed`: [H, 1] per side, computed on the host (the checkpoint's running stats, in float64);
 * - `running`: in the graph from running statistics (the train graph's eval mode);
 * - `batch`: in the graph from the batch statistics of the valid tokens (mean and biased variance over their
 *   tokens·E logits per head), with the EMA update of the running statistics (PyTorch style: `momentum`, unbiased
 *   batch variance).
 * Thresholds computed in the graph carry no gradient: the selection is a hard mask, so gradients reach the router
 * weights only through the softmax over the selected logits.
 */
export type Thresholds =
  | { kind: 'fixed'; tau: readonly [Tensor, Tensor] }
  | { kind: 'running'; running: readonly [BnStats, BnStats]; sigmaStar: number }
  | { kind: 'batch'; running: readonly [BnStats, BnStats]; sigmaStar: number; momentum: number; valid: ValidTokens };

export interface RouterSide {
  gate: Tensor;
  /** The selection z ≥ t, bool [tokens, H, E]. */
  selected: Tensor;
  /** The statistics that placed the threshold (not for `fixed`). */
  stats?: BnStats;
  /** `batch` only: the running statistics after this batch's EMA update. */
  updated?: BnStats;
}

export interface Router extends Gates {
  sides: readonly [RouterSide, RouterSide];
}

/** The shape of the router logits and gates: [tokens, H, E]. */
export type GateShape = readonly [tokens: Dim, heads: number, experts: number];

export const gateShape = (config: MonetConfig, shape: TokenShape): GateShape => [shape.tokens, config.moe_heads, config.moe_experts];

/** The router's gates for x̃ [tokens, d]. */
export function router(xt: Tensor, w: RouterWeights, thresholds: Thresholds, gates: GateShape): Router {
  const side = (weight: Tensor, s: 0 | 1) => routerSide(op.reshape(linear(xt, weight), gates), thresholds, s);
  const sides = [side(w.w1, 0), side(w.w2, 1)] as const;
  return { g1: sides[0].gate, g2: sides[1].gate, sides };
}

function routerSide(z: Tensor, thresholds: Thresholds, side: 0 | 1): RouterSide {
  switch (thresholds.kind) {
    case 'fixed':
      return select(z, thresholds.tau[side], z);
    case 'running': {
      const stats = thresholds.running[side];
      return { ...select(z, closedForm(stats, thresholds.sigmaStar), op.stopGradient(z)), stats };
    }
    case 'batch': {
      const { stats, updated } = batchStats(op.stopGradient(z), thresholds.running[side], thresholds.valid, thresholds.momentum);
      return { ...select(z, closedForm(stats, thresholds.sigmaStar), op.stopGradient(z)), stats, updated };
    }
  }
}

/** t = min(τ, max_e z) (the row max taken of `rowMaxOf`, z or z without gradient), g = softmax(z if z ≥ t, else UNSELECTED). */
function select(z: Tensor, tau: Tensor, rowMaxOf: Tensor): { gate: Tensor; selected: Tensor } {
  const selected = op.greaterOrEqual(z, op.minimum(tau, op.reduceMax(rowMaxOf, [-1], true)));
  return { gate: op.softmax(op.where(selected, z, UNSELECTED), -1), selected };
}

/** τ = μ + √(v + 1e-5)·σ* per head, as [1, H, 1]. */
function closedForm(stats: BnStats, sigmaStar: number): Tensor {
  const H = stats.mean.shape[0] as number;
  return op.reshape(op.add(stats.mean, op.mul(op.sqrt(op.add(stats.variance, ROUTER_BN_EPS)), sigmaStar)), [1, H, 1]);
}

/** Mean and biased variance per head over the valid tokens' logits z [tokens, H, E], and the EMA update. */
function batchStats(z: Tensor, running: BnStats, valid: ValidTokens, momentum: number): { stats: BnStats; updated: BnStats } {
  const [, H, E] = z.shape as [Dim, number, number];
  const n = op.mul(valid.count, E);
  const mean = op.div(op.reduceSum(op.mul(z, valid.weights), [0, 2]), n);
  const dev = op.sub(z, op.reshape(mean, [1, H, 1]));
  const variance = op.div(op.reduceSum(op.mul(op.mul(dev, dev), valid.weights), [0, 2]), n);
  const unbiased = op.div(op.mul(variance, n), op.maximum(op.sub(n, 1), 1));
  const ema = (run: Tensor, batch: Tensor) => op.add(op.mul(run, 1 - momentum), op.mul(batch, momentum));
  return { stats: { mean, variance }, updated: { mean: ema(running.mean, mean), variance: ema(running.variance, unbiased) } };
}
