// SAE training configuration (every hyperparameter of spec gba.md §2.5 and the open questions of §7 as options, with
// the spec's defaults and readings), the parameter layout per method, initialization, and the conversion of trained
// parameters into the shared `Sae` contract (types.ts).
import { z } from 'zod';
import { mulberry32 } from '../engine';
import type { GbaState, Sae, SaeHook, SaeMethod, SaeNormalization } from './types';

export const SaeTrainConfigSchema = z.object({
  method: z.enum(['gba', 'ba', 'topk', 'relu-l1']).default('gba'),
  /** Latents M. */
  latents: z.number().int().positive(),
  /** Tokens per optimizer step (spec §2.5 L). */
  batchSize: z.number().int().positive().default(512),
  steps: z.number().int().positive().default(10_000),
  lr: z.number().positive().default(1e-4),
  /** Linear learning-rate warmup (spec §5.5 suggests ~1k steps; 0 off). */
  warmupSteps: z.number().int().min(0).default(0),
  beta1: z.number().min(0).max(1).default(0.9),
  beta2: z.number().min(0).max(1).default(0.999),
  adamEps: z.number().positive().default(1e-8),
  /** Decoupled weight decay on the weight matrices (spec §1.3: Adam, so 0). */
  weightDecay: z.number().min(0).default(0),
  seed: z.number().int().min(0).default(0),

  // ---- GBA / BA (spec §2)
  /** Groups K (BA forces 1). */
  groups: z.number().int().positive().default(10),
  /** Highest / lowest target activation frequency (ICLR version: 0.5 → 1e-3; v1: 0.1 → 1e-3). BA uses `targetFrequency`. */
  htf: z.number().gt(0).lte(1).default(0.5),
  ltf: z.number().gt(0).lte(1).default(1e-3),
  /** BA's single target frequency (default: htf). */
  targetFrequency: z.number().gt(0).lte(1).optional(),
  /** γ₋: bias decrease step (× the neuron's peak pre-activation). */
  gammaMinus: z.number().positive().default(0.01),
  /** γ₊: bias increase step (× the group's mean positive peak). */
  gammaPlus: z.number().positive().default(0.01),
  /** T_ba: gradient steps between bias updates. */
  adaptEvery: z.number().int().positive().default(50),
  /** ε: a neuron with a window rate below this is "dead" and gets its bias raised (1e-6: zero firings). */
  deadRate: z.number().min(0).default(1e-6),
  /** Bias clamp [biasMin, biasMax] (spec: [−1, 0]) and initial bias (0). */
  biasMin: z.number().default(-1),
  biasMax: z.number().default(0),
  biasInit: z.number().default(0),
  /** §5.6 deviation, off by default: a group's statistics accumulate over several periods until the window holds
   * at least minExpectedFirings / p_k tokens (0: every period, as the paper). */
  minExpectedFirings: z.number().min(0).default(0),
  /** §5.6 deviation, off by default: decrease only when the count exceeds the Poisson upper bound of the target
   * at this many standard deviations (0: whenever p̂ > p_k). */
  decreaseMarginSigmas: z.number().min(0).default(0),
  /** §7 Q1: the gate. `jumprelu`: φ = z·1[z+b>0] (spec reading); `relu`: φ = max(0, z+b). */
  gate: z.enum(['jumprelu', 'relu']).default('jumprelu'),
  /** §7 Q2: tied weights (spec reading). false gives GBA a separate encoder matrix. */
  tied: z.boolean().default(true),
  /** §7 Q2: project the rows w_m back to unit norm after every step (spec reading: yes). */
  unitNorm: z.boolean().default(true),
  /** Remove the radial component of the gradient of unit-norm rows before the optimizer step (spec §1.1, optional). */
  removeRadialGrad: z.boolean().default(false),
  /** §7 Q5: initial per-neuron output scale a_m (spec reading: 1). */
  scaleInit: z.number().default(1),
  /** §7 Q5 / §5.3: b_pre starts at the data mean (or zero); train it (the JumpReLU gate keeps it from drifting). */
  preBiasInit: z.enum(['mean', 'zero']).default('mean'),
  trainPreBias: z.boolean().default(true),

  // ---- TopK (Gao et al. 2024; sparsify / SAE Lens conventions)
  k: z.number().int().positive().default(32),
  /** AuxK: latents used to model the residual with dead latents (default dIn/2), loss coefficient 1/32. */
  auxK: z.number().int().min(0).optional(),
  auxCoef: z.number().min(0).default(1 / 32),

  // ---- ReLU + L1 (decoder-norm weighted, Templeton et al.)
  l1: z.number().min(0).default(0.01),

  /** A latent that has not fired over this many tokens counts as dead (SAE convention 10⁷; spec §5.6); TopK's AuxK
   * uses the same threshold. Before that many tokens have been seen, "dead" means not fired since the start. */
  deadTokens: z.number().int().positive().default(10_000_000),
  /** §7 Q3: input normalization when the activation source does not bring one. `dataset`: one scale so that
   * E‖x‖ = normTarget (spec §5.3); `dataset-centered`: subtract the mean first; `per-token`: every x to norm
   * normTarget; `none`. */
  normalize: z.enum(['dataset', 'dataset-centered', 'per-token', 'none']).default('dataset'),
  normTarget: z.number().positive().default(1),
});
export type SaeTrainConfigInput = z.input<typeof SaeTrainConfigSchema>;
export type SaeTrainConfig = z.output<typeof SaeTrainConfigSchema>;

export function parseSaeTrainConfig(c: SaeTrainConfigInput): SaeTrainConfig {
  const r = SaeTrainConfigSchema.parse(c);
  if (r.biasMin > r.biasMax) throw new Error(`biasMin ${r.biasMin} is above biasMax ${r.biasMax}`);
  if (r.method === 'topk' && r.k > r.latents) throw new Error(`k ${r.k} exceeds latents ${r.latents}`);
  return r;
}

/** Whether the method adapts biases with the group rule. */
export const isBiasAdapted = (m: SaeMethod): boolean => m === 'gba' || m === 'ba';

/** Target frequency of each group: p_k = HTF·(LTF/HTF)^((k−1)/(K−1)) (spec §2.4); BA: one group. */
export function groupTargets(c: SaeTrainConfig): Float32Array {
  if (c.method === 'ba') return Float32Array.of(c.targetFrequency ?? c.htf);
  const K = c.groups;
  if (K === 1) return Float32Array.of(c.htf);
  return Float32Array.from({ length: K }, (_, k) => c.htf * (c.ltf / c.htf) ** (k / (K - 1)));
}

/** Group of each latent: contiguous equal blocks (equivalent to a random permutation under random init, §2.4). */
export function groupOf(latents: number, groups: number): Int32Array {
  return Int32Array.from({ length: latents }, (_, m) => Math.floor((m * groups) / latents));
}

export interface ParamSpec { name: string; shape: number[] }

/** Parameter names. GBA tied: W [M, d] (rows w_m), a [M], b_pre [d]. Untied methods: W_enc [M, d] (rows are
 * encoder directions), b_enc [M], W_dec [M, d], b_dec [d]. */
export function paramSpecs(c: SaeTrainConfig, dIn: number): ParamSpec[] {
  const M = c.latents;
  if (isBiasAdapted(c.method)) {
    return [
      { name: 'W', shape: [M, dIn] },
      ...(c.tied ? [] : [{ name: 'W_enc', shape: [M, dIn] }]),
      { name: 'a', shape: [M] },
      ...(c.trainPreBias ? [{ name: 'b_pre', shape: [dIn] }] : []),
    ];
  }
  return [
    { name: 'W_enc', shape: [M, dIn] },
    { name: 'b_enc', shape: [M] },
    { name: 'W_dec', shape: [M, dIn] },
    { name: 'b_dec', shape: [dIn] },
  ];
}

/** Name of the pre-bias (b_pre / b_dec), a param or, when frozen, a fed input. */
export const preBiasName = (c: SaeTrainConfig): string => (isBiasAdapted(c.method) ? 'b_pre' : 'b_dec');

/** Initial parameters: unit Gaussian rows (spec §5.4), a = scaleInit, pre-bias = data mean (or 0); untied methods
 * start with W_enc = W_dec (Gao et al.). */
export function initParams(c: SaeTrainConfig, dIn: number, dataMean: Float32Array): Map<string, Float32Array> {
  const M = c.latents;
  const rand = mulberry32(c.seed * 7919 + 17);
  const gauss = (): number => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const rows = new Float32Array(M * dIn);
  for (let i = 0; i < rows.length; i++) rows[i] = gauss();
  normalizeRows(rows, dIn);
  const pre = c.preBiasInit === 'mean' ? Float32Array.from(dataMean) : new Float32Array(dIn);
  const out = new Map<string, Float32Array>();
  if (isBiasAdapted(c.method)) {
    out.set('W', rows);
    if (!c.tied) out.set('W_enc', Float32Array.from(rows));
    out.set('a', new Float32Array(M).fill(c.scaleInit));
    out.set('b_pre', pre);
  } else {
    out.set('W_enc', Float32Array.from(rows));
    out.set('b_enc', new Float32Array(M));
    out.set('W_dec', rows);
    out.set('b_dec', pre);
  }
  return out;
}

export function normalizeRows(w: Float32Array, d: number): void {
  for (let r = 0; r < w.length / d; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += w[r * d + j]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < d; j++) w[r * d + j]! *= inv;
  }
}

/** The trained parameters as the shared `Sae` (types.ts): GBA/BA map onto SAE Lens's JumpReLU form exactly. */
export function toSae(
  c: SaeTrainConfig, dIn: number, params: ReadonlyMap<string, Float32Array>,
  extra: { bias?: Float32Array; group?: Int32Array; targets?: Float32Array; hook: SaeHook; normalization: SaeNormalization; excludeBos: boolean },
): Sae {
  const M = c.latents;
  const hyper = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as Record<string, number | string | boolean>;
  const transpose = (w: Float32Array): Float32Array => {
    const t = new Float32Array(dIn * M);
    for (let m = 0; m < M; m++) for (let j = 0; j < dIn; j++) t[j * M + m] = w[m * dIn + j]!;
    return t;
  };
  const base = { method: c.method, dIn, dSae: M, hook: extra.hook, normalization: extra.normalization, excludeBos: extra.excludeBos, hyper };
  if (isBiasAdapted(c.method)) {
    const W = params.get('W')!;
    const a = params.get('a')!;
    const bias = extra.bias!;
    const wDec = new Float32Array(M * dIn);
    for (let m = 0; m < M; m++) for (let j = 0; j < dIn; j++) wDec[m * dIn + j] = a[m]! * W[m * dIn + j]!;
    const gba: GbaState = { group: extra.group!, targetFrequency: extra.targets!, bias: Float32Array.from(bias), scale: Float32Array.from(a) };
    const enc = transpose(params.get(c.tied ? 'W' : 'W_enc')!);
    const bPre = Float32Array.from(params.get('b_pre')!);
    if (c.gate === 'relu') {
      // φ = max(0, z + b): b is the encoder bias of a plain ReLU SAE.
      return { config: { ...base, activation: { kind: 'relu' } }, weights: { W_enc: enc, b_enc: Float32Array.from(bias), W_dec: wDec, b_dec: bPre }, gba };
    }
    return {
      config: { ...base, activation: { kind: 'jumprelu' } },
      weights: { W_enc: enc, b_enc: new Float32Array(M), W_dec: wDec, b_dec: bPre, threshold: Float32Array.from(bias, (b) => -b) },
      gba,
    };
  }
  const weights = {
    W_enc: transpose(params.get('W_enc')!), b_enc: Float32Array.from(params.get('b_enc')!),
    W_dec: Float32Array.from(params.get('W_dec')!), b_dec: Float32Array.from(params.get('b_dec')!),
  };
  return { config: { ...base, activation: c.method === 'topk' ? { kind: 'topk', k: c.k } : { kind: 'relu' } }, weights };
}
