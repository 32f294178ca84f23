// Optimizers as graph builders: given a parameter, its gradient and its state tensors, they return the
// updated parameter and state. Learning rate and step are graph inputs, so one graph serves every step.
import type { Tensor } from './graph';
import { add, cast, div, minimum, mul, pow, reduceSum, sqrt, sub } from './ops';

export interface Hyper {
  /** Learning rate, float32 scalar input. */
  lr: Tensor;
  /** 1-based step number, float32 scalar input (bias correction). */
  step: Tensor;
}

export interface Optimizer {
  readonly name: string;
  /** Per-parameter state slots, each shaped like the parameter and starting at zero. */
  readonly slots: readonly string[];
  /** Builds the update; `decay` says whether weight decay applies to this parameter. */
  update(p: Tensor, g: Tensor, state: Tensor[], h: Hyper, decay: boolean): { p: Tensor; state: Tensor[] };
}

export interface AdamWOptions { beta1?: number; beta2?: number; eps?: number; weightDecay?: number }

/** AdamW (Loshchilov & Hutter): bias-corrected moments, weight decay decoupled from the gradient. Same arithmetic as torch.optim.AdamW. */
export function adamw(o: AdamWOptions = {}): Optimizer {
  const b1 = o.beta1 ?? 0.9;
  const b2 = o.beta2 ?? 0.999;
  const eps = o.eps ?? 1e-8;
  const wd = o.weightDecay ?? 0.01;
  return {
    name: 'adamw',
    slots: ['m', 'v'],
    update(p, g, [m, v], { lr, step }, decay) {
      const lrp = castLike(lr, p);
      const t = castLike(step, p);
      const m2 = add(mul(m!, b1), mul(g, 1 - b1));
      const v2 = add(mul(v!, b2), mul(mul(g, g), 1 - b2));
      // Scalar work first, so each element sees one multiply per correction.
      const stepSize = div(lrp, sub(1, pow(p.graph.scalar(b1, p.dtype), t)));
      const invSqrtBc2 = div(1, sqrt(sub(1, pow(p.graph.scalar(b2, p.dtype), t))));
      const denom = add(mul(sqrt(v2), invSqrtBc2), eps);
      const decayed = decay && wd !== 0 ? mul(p, sub(1, mul(lrp, wd))) : p;
      return { p: sub(decayed, mul(stepSize, div(m2, denom))), state: [m2, v2] };
    },
  };
}

export interface SgdOptions { momentum?: number; weightDecay?: number; nesterov?: boolean }

/** SGD with momentum (torch.optim.SGD semantics, L2 weight decay added to the gradient, dampening 0). */
export function sgd(o: SgdOptions = {}): Optimizer {
  const mu = o.momentum ?? 0.9;
  const wd = o.weightDecay ?? 0;
  return {
    name: 'sgd',
    slots: mu ? ['buf'] : [],
    update(p, g0, state, { lr }, decay) {
      const lrp = castLike(lr, p);
      const g = decay && wd ? add(g0, mul(p, wd)) : g0;
      if (!mu) return { p: sub(p, mul(lrp, g)), state: [] };
      const buf = add(mul(state[0]!, mu), g);
      const dir = o.nesterov ? add(g, mul(buf, mu)) : buf;
      return { p: sub(p, mul(lrp, dir)), state: [buf] };
    },
  };
}

const castLike = (s: Tensor, like: Tensor): Tensor => (s.dtype === like.dtype ? s : cast(s, like.dtype));

/** Scales gradients so their global L2 norm is at most maxNorm; returns them and the norm before clipping. */
export function clipByGlobalNorm(grads: Tensor[], maxNorm: number): { grads: Tensor[]; norm: Tensor } {
  const norm = globalNorm(grads);
  const coef = minimum(div(maxNorm, add(norm, 1e-6)), 1);
  return { grads: grads.map((g) => mul(g, castLike(coef, g))), norm };
}

export function globalNorm(grads: Tensor[]): Tensor {
  const sq = grads.map((g) => castLike(reduceSum(mul(g, g)), grads[0]!));
  return sqrt(sq.reduce((a, b) => add(a, b)));
}
