/**
 * Measuring an SAE (spec gba.md §5.8):
 *
 * - on activations (a cache, an imported file, or a model's hook over text): normalized MSE E‖x − x̂‖² / E‖x‖²,
 *   fraction of variance explained FVE = 1 − E‖x − x̂‖² / E‖x − x̄‖² (x̄ the mean over the evaluated tokens), L0 (mean
 *   active latents per token) and L0/M, the dead fraction (latents that never fire on the data), each latent's
 *   activation frequency, and for GBA/BA each group's realized rate (mean frequency of its latents) against its target;
 * - on a model: next-token loss with the SAE's reconstruction spliced in at its hook, against the clean model and a
 *   zero ablation of the hook: loss recovered = (L_zero − L_sae) / (L_zero − L_clean);
 * - between two SAEs (seeds): for each latent of A the maximum cosine similarity of its decoder direction with B's
 *   (MCS), the fraction above 0.9, optionally among A's top-α most active latents.
 *
 * Everything is computed in the raw activation space (reconstructions denormalized), so the numbers do not depend on
 * the SAE's normalization. Statistics are accumulated in float64, one batch at a time.
 */
import { compile, Graph, op, type Provider } from '../engine';
import { hookName, type HookKind } from '../models/monet/hooks';
import type { MonetModel } from '../models/monet/model';
import type { TextTokenizer } from '../tokenizer';
import { tokenBatches, type BatchingOptions, type TextSample } from './activations';
import { SaeRunner } from './encode';
import type { Sae } from './types';

export interface GroupRate {
  group: number;
  target: number;
  realized: number;
  latents: number;
}

export interface ActivationMetrics {
  tokens: number;
  /** E‖x − x̂‖² */
  mse: number;
  /** E‖x − x̂‖² / E‖x‖² */
  nmse: number;
  /** 1 − E‖x − x̂‖² / E‖x − x̄‖² */
  fve: number;
  /** Mean number of active latents per token, and as a fraction of the latents. */
  l0: number;
  l0Fraction: number;
  /** Latents that never fired on the evaluated tokens. */
  dead: number;
  deadFraction: number;
  /** GBA/BA: per group, realized mean frequency against the target. */
  groups?: GroupRate[];
}

/** Streams batches of (x, SAE outputs) into the metrics; `frequency` is each latent's firing rate. */
export class MetricsAccumulator {
  private tokens = 0;
  private sqErr = 0;
  private sqNorm = 0;
  private l0 = 0;
  private readonly sum: Float64Array;
  readonly fired: Float64Array;

  constructor(private readonly sae: Sae) {
    this.sum = new Float64Array(sae.config.dIn);
    this.fired = new Float64Array(sae.config.dSae);
  }

  add(x: Float32Array, out: { sq_err: Float32Array; l0: Float32Array; fired: Float32Array }): void {
    const d = this.sae.config.dIn;
    const n = x.length / d;
    for (let r = 0; r < n; r++) {
      this.sqErr += out.sq_err[r]!;
      this.l0 += out.l0[r]!;
      for (let j = 0; j < d; j++) {
        const v = x[r * d + j]!;
        this.sqNorm += v * v;
        this.sum[j]! += v;
      }
    }
    for (let m = 0; m < this.fired.length; m++) this.fired[m]! += out.fired[m]!;
    this.tokens += n;
  }

  get count(): number { return this.tokens; }

  get frequency(): Float64Array {
    return this.fired.map((f) => (this.tokens ? f / this.tokens : 0));
  }

  result(): ActivationMetrics {
    const n = this.tokens;
    if (n === 0) throw new Error('no tokens were evaluated');
    const M = this.sae.config.dSae;
    let meanSq = 0;
    for (const s of this.sum) meanSq += (s / n) ** 2;
    const energy = this.sqNorm / n;
    const variance = energy - meanSq;
    const mse = this.sqErr / n;
    const dead = this.fired.reduce((c, f) => c + (f === 0 ? 1 : 0), 0);
    const out: ActivationMetrics = {
      tokens: n, mse, nmse: energy > 0 ? mse / energy : 0, fve: variance > 0 ? 1 - mse / variance : 0,
      l0: this.l0 / n, l0Fraction: this.l0 / n / M, dead, deadFraction: dead / M,
    };
    const g = this.sae.gba;
    if (g) {
      const freq = this.frequency;
      out.groups = Array.from(g.targetFrequency, (target, k) => {
        let s = 0;
        let c = 0;
        for (let m = 0; m < M; m++) if (g.group[m] === k) { s += freq[m]!; c++; }
        return { group: k, target, realized: c ? s / c : 0, latents: c };
      });
    }
    return out;
  }
}

export interface EvalOptions {
  provider?: Provider;
  threads?: number;
  /** Rows per SAE run (default 4096). */
  batchSize?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  onProgress?: (tokens: number) => void;
}

/** Metrics on activations: any source of row batches [n, dIn] (ActivationCache.sequential, an import). */
export async function evaluateOnActivations(sae: Sae, batches: AsyncIterable<Float32Array>, o: EvalOptions = {}): Promise<ActivationMetrics & { frequency: Float64Array }> {
  const runner = await SaeRunner.create(sae, { ...(o.provider ? { provider: o.provider } : {}), ...(o.threads ? { intraOpThreads: o.threads } : {}) });
  const acc = new MetricsAccumulator(sae);
  let seen = 0;
  try {
    for await (const full of batches) {
      o.signal?.throwIfAborted();
      if (full.length % sae.config.dIn !== 0) throw new Error(`activations of width ${full.length} per batch do not match the SAE's d_in ${sae.config.dIn}`);
      const left = (o.maxTokens ?? Infinity) - seen;
      if (left <= 0) break;
      const x = full.length / sae.config.dIn > left ? full.subarray(0, left * sae.config.dIn) : full;
      acc.add(x, await runner.run(x, ['sq_err', 'l0', 'fired']));
      seen += x.length / sae.config.dIn;
      o.onProgress?.(seen);
    }
  } finally {
    await runner.dispose();
  }
  return { ...acc.result(), frequency: acc.frequency };
}

export interface SplicedLoss {
  /** Predicted tokens scored. */
  tokens: number;
  /** Mean next-token NLL (nats): clean model, SAE spliced in, hook zero-ablated. */
  clean: number;
  spliced: number;
  zero: number;
  /** (zero − spliced) / (zero − clean); 1 = as good as the clean model, 0 = no better than ablating the hook. */
  lossRecovered: number;
}

export interface TextEvalOptions extends EvalOptions, Omit<BatchingOptions, 'signal' | 'maxTokens'> {
  /** Skip the spliced-loss forwards (activation metrics only). */
  activationsOnly?: boolean;
}

/**
 * Runs the model over text: activation metrics at the SAE's hook, and (unless `activationsOnly`) the next-token loss
 * clean, with the SAE's reconstruction spliced in, and with the hook zero-ablated. Only the tokens the SAE was
 * trained on are replaced (BOS stays clean when the SAE excluded it; padding is never scored).
 */
export async function evaluateOnText(
  sae: Sae,
  model: MonetModel,
  tokenizer: TextTokenizer,
  samples: Iterable<TextSample> | AsyncIterable<TextSample>,
  o: TextEvalOptions = {},
): Promise<{ metrics: ActivationMetrics & { frequency: Float64Array }; loss: SplicedLoss | null }> {
  const hook = sae.config.hook;
  if (hook.kind === 'external') throw new Error(`the SAE's hook "${hook.name}" is not a hook point of a Monet model; evaluate it on activations instead`);
  if (hook.layer >= model.config.num_hidden_layers) throw new Error(`the SAE's hook ${hook.name} is past the model's ${model.config.num_hidden_layers} blocks`);
  const d = model.config.hidden_size;
  if (d !== sae.config.dIn) throw new Error(`the model's width ${d} is not the SAE's d_in ${sae.config.dIn}`);
  const point = { layer: hook.layer, kind: hook.kind as HookKind };
  const runner = await SaeRunner.create(sae, { ...(o.provider ? { provider: o.provider } : {}), ...(o.threads ? { intraOpThreads: o.threads } : {}) });
  const acc = new MetricsAccumulator(sae);
  const nll = { clean: 0, spliced: 0, zero: 0 };
  let scored = 0;
  try {
    for await (const batch of tokenBatches(model, tokenizer, samples, { ...o, excludeBos: sae.config.excludeBos, ...(o.maxTokens ? { maxTokens: o.maxTokens } : {}) })) {
      o.signal?.throwIfAborted();
      const { ids, attention, batch: B, time: T, keep } = batch;
      const rows = (x: Float32Array) => {
        const out = new Float32Array(keep.length * d);
        keep.forEach((p, i) => out.set(x.subarray(p * d, (p + 1) * d), i * d));
        return out;
      };
      const put = (clean: Float32Array, values: Float32Array | null) => {
        const out = clean.slice();
        keep.forEach((p, i) => out.set(values ? values.subarray(i * d, (i + 1) * d) : new Float32Array(d), p * d));
        return out;
      };
      const spliceWithSae = async (clean: Float32Array) => {
        const x = rows(clean);
        const r = await runner.run(x, ['recon', 'sq_err', 'l0', 'fired']);
        acc.add(x, r);
        return put(clean, r.recon);
      };
      if (o.activationsOnly) {
        const out = await model.forward({ ids, attention, batch: B, time: T, hooks: [point], logits: 'none', lastLayer: point.layer });
        await spliceWithSae(out.hooks!.get(hookName(point))!);
      } else {
        const targets = new BigInt64Array(B * T);
        const scoredAt: number[] = [];
        batch.windows.forEach((w, b) => {
          for (let t = 0; t + 1 < w.length; t++) {
            targets[b * T + t] = BigInt(w[t + 1]!);
            scoredAt.push(b * T + t);
          }
        });
        const base = { ids, attention, batch: B, time: T, targets, logits: 'none' as const };
        const clean = await model.forward(base);
        const spliced = await model.forward({ ...base, splice: { hook: point, replace: spliceWithSae } });
        const zero = await model.forward({ ...base, splice: { hook: point, replace: (c) => put(c, null) } });
        for (const p of scoredAt) {
          nll.clean += clean.nll![p]!;
          nll.spliced += spliced.nll![p]!;
          nll.zero += zero.nll![p]!;
        }
        scored += scoredAt.length;
      }
      o.onProgress?.(acc.count);
    }
  } finally {
    await runner.dispose();
  }
  const metrics = { ...acc.result(), frequency: acc.frequency };
  if (o.activationsOnly) return { metrics, loss: null };
  if (scored === 0) throw new Error('no next-token targets (every text is one token long)');
  const mean = { clean: nll.clean / scored, spliced: nll.spliced / scored, zero: nll.zero / scored };
  const gap = mean.zero - mean.clean;
  return { metrics, loss: { tokens: scored, ...mean, lossRecovered: gap !== 0 ? (mean.zero - mean.spliced) / gap : Number.NaN } };
}

export interface CrossSeedResult {
  /** Latents of A compared (all, or the top-α most active). */
  latents: number;
  /** Fraction of them whose best match in B has cosine > threshold. */
  fractionAbove: number;
  threshold: number;
  meanMcs: number;
  alpha: number | null;
  /** [dSae of A] best cosine per latent (all latents). */
  mcs: Float32Array;
}

/** Unit rows of W_dec [M, d] (zero rows stay zero). */
function unitRows(w: Float32Array, d: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let m = 0; m < w.length / d; m++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += w[m * d + j]! ** 2;
    const k = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) out[m * d + j] = w[m * d + j]! * k;
  }
  return out;
}

/** For each decoder direction of A, its largest cosine with any decoder direction of B (one graph, A in row blocks). */
export async function maxCosine(a: Sae, b: Sae, o: { provider?: Provider; threads?: number; block?: number } = {}): Promise<Float32Array> {
  const d = a.config.dIn;
  if (b.config.dIn !== d) throw new Error(`the SAEs have different widths (d_in ${d} and ${b.config.dIn})`);
  const g = new Graph('sae.mcs');
  const x = g.input('a', 'float32', ['n', d]);
  const wb = g.initializer('b', 'float32', [b.config.dSae, d], unitRows(b.weights.W_dec, d));
  g.output('mcs', op.reduceMax(op.matMul(x, op.transpose(wb, [1, 0])), [1]));
  const run = await compile(g, { provider: o.provider ?? 'cpu', cache: false, ...(o.threads ? { intraOpThreads: o.threads } : {}) });
  const ua = unitRows(a.weights.W_dec, d);
  const Ma = a.config.dSae;
  const out = new Float32Array(Ma);
  const block = o.block ?? 1024;
  try {
    for (let s = 0; s < Ma; s += block) {
      const n = Math.min(block, Ma - s);
      const r = await run.run({ a: { data: ua.subarray(s * d, (s + n) * d), dims: [n, d] } });
      out.set(r.mcs!.data as Float32Array, s);
    }
  } finally {
    await run.dispose();
  }
  return out;
}

/**
 * Cross-seed consistency of A against B: the fraction of A's latents whose decoder direction has a match in B with
 * cosine > threshold (default 0.9). With `alpha` and A's activation `frequency`, only the ⌈α·M⌉ most active latents.
 */
export async function crossSeedConsistency(
  a: Sae,
  b: Sae,
  o: { threshold?: number; alpha?: number; frequency?: ArrayLike<number>; provider?: Provider; threads?: number } = {},
): Promise<CrossSeedResult> {
  const threshold = o.threshold ?? 0.9;
  const mcs = await maxCosine(a, b, o);
  let chosen = Array.from({ length: mcs.length }, (_, i) => i);
  if (o.alpha !== undefined) {
    if (!(o.alpha > 0 && o.alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${o.alpha}`);
    if (!o.frequency || o.frequency.length !== mcs.length) throw new Error('top-α selection needs the activation frequency of every latent of A');
    const f = o.frequency;
    chosen = chosen.sort((x, y) => f[y]! - f[x]! || x - y).slice(0, Math.max(1, Math.ceil(o.alpha * mcs.length)));
  }
  const above = chosen.reduce((c, m) => c + (mcs[m]! > threshold ? 1 : 0), 0);
  const mean = chosen.reduce((s, m) => s + mcs[m]!, 0) / chosen.length;
  return { latents: chosen.length, fractionAbove: above / chosen.length, threshold, meanMcs: mean, alpha: o.alpha ?? null, mcs };
}
