// SAE evaluation: activation metrics against a brute-force computation, the spliced next-token loss on the tiny Monet
// (an exact SAE recovers all of it, a zero SAE none), and cross-seed max cosine similarity.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonetModel } from '../../workers/models/monet/model';
import { tokenizerForModel } from '../../workers/models/monet/session';
import { crossSeedConsistency, evaluateOnActivations, evaluateOnText, maxCosine } from '../../workers/sae/eval';
import type { Sae } from '../../workers/sae/types';
import { fixtureWithTokenizerSync } from '../support/tiny-monet';
import { exactSae } from './helpers';

const rand = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;

function reluSae(dIn: number, dSae: number, seed: number, extra: Partial<Sae['config']> = {}): Sae {
  const r = rand(seed);
  return {
    config: { method: 'relu-l1', activation: { kind: 'relu' }, dIn, dSae, hook: { model: 'm', name: 'blocks.1.hook_mlp_out', layer: 1, kind: 'mlp_out' }, normalization: { kind: 'none', scale: 1 }, excludeBos: true, hyper: {}, ...extra },
    weights: {
      W_enc: Float32Array.from({ length: dIn * dSae }, r), b_enc: Float32Array.from({ length: dSae }, () => r() * 0.5 - 0.6),
      W_dec: Float32Array.from({ length: dSae * dIn }, r), b_dec: Float32Array.from({ length: dIn }, () => r() * 0.1),
    },
  };
}

async function* batchesOf(x: Float32Array, d: number, rows: number) {
  for (let s = 0; s < x.length / d; s += rows) yield x.subarray(s * d, Math.min(x.length / d, s + rows) * d);
}

describe('activation metrics', () => {
  it('match a brute-force computation (MSE, normalized MSE, FVE, L0, dead, frequencies, group rates)', async () => {
    const d = 6;
    const M = 20;
    const n = 150;
    const sae = reluSae(d, M, 3);
    sae.weights.b_enc[5] = -100; // a latent that never fires
    sae.gba = { group: Int32Array.from({ length: M }, (_, m) => m % 2), targetFrequency: Float32Array.from([0.5, 0.01]), bias: new Float32Array(M), scale: new Float32Array(M).fill(1) };
    const r = rand(9);
    const x = Float32Array.from({ length: n * d }, () => r() * 2 + 0.3);
    // Brute force in float64.
    let sq = 0, energy = 0, l0 = 0;
    const mean = new Float64Array(d);
    const fired = new Float64Array(M);
    for (let t = 0; t < n; t++) {
      const f = new Float64Array(M);
      for (let m = 0; m < M; m++) {
        let p = sae.weights.b_enc[m]!;
        for (let j = 0; j < d; j++) p += (x[t * d + j]! - sae.weights.b_dec[j]!) * sae.weights.W_enc[j * M + m]!;
        f[m] = Math.max(0, p);
        if (f[m]! > 0) { l0++; fired[m]!++; }
      }
      for (let j = 0; j < d; j++) {
        let y = sae.weights.b_dec[j]!;
        for (let m = 0; m < M; m++) y += f[m]! * sae.weights.W_dec[m * d + j]!;
        sq += (x[t * d + j]! - y) ** 2;
        energy += x[t * d + j]! ** 2;
        mean[j]! += x[t * d + j]! / n;
      }
    }
    let variance = 0;
    for (let t = 0; t < n; t++) for (let j = 0; j < d; j++) variance += (x[t * d + j]! - mean[j]!) ** 2;
    const got = await evaluateOnActivations(sae, batchesOf(x, d, 64), { threads: 1 });
    expect(got.tokens).toBe(n);
    expect(got.mse).toBeCloseTo(sq / n, 4);
    expect(got.nmse).toBeCloseTo(sq / energy, 5);
    expect(got.fve).toBeCloseTo(1 - sq / variance, 5);
    expect(got.l0).toBeCloseTo(l0 / n, 9);
    expect(got.dead).toBe(fired.filter((f) => f === 0).length);
    expect(got.dead).toBeGreaterThan(0);
    expect(got.dead).toBeLessThan(M);
    fired.forEach((f, m) => expect(got.frequency[m]).toBeCloseTo(f / n, 9));
    const g0 = Array.from(fired).filter((_, m) => m % 2 === 0).reduce((s, f) => s + f / n, 0) / (M / 2);
    expect(got.groups![0]).toMatchObject({ group: 0, target: 0.5, latents: M / 2 });
    expect(got.groups![0]!.realized).toBeCloseTo(g0, 9);
    const capped = await evaluateOnActivations(sae, batchesOf(x, d, 64), { threads: 1, maxTokens: 100 });
    expect(capped.tokens).toBe(100);
  });
});

describe('spliced next-token loss on the tiny Monet', () => {
  let model: MonetModel;
  let dir: string;
  beforeAll(async () => {
    dir = fixtureWithTokenizerSync('monet-vd-tiny');
    model = await MonetModel.load(dir, { provider: 'cpu', intraOpThreads: 1 });
  });
  afterAll(async () => { await model.dispose(); });
  const samples = ['The quick brown fox jumps over the lazy dog.', 'for (let i = 0; i < n; i++) sum += i;', 'Some more prose to score.'].map((text) => ({ text }));

  it.each(['resid_post', 'attn_out', 'mlp_out'] as const)('%s: an exact SAE recovers all the loss, a zero SAE none', async (kind) => {
    const tokenizer = await tokenizerForModel(dir, model.config);
    const hook = { model: dir, name: `blocks.0.hook_${kind}`, layer: 0, kind };
    const exact = await evaluateOnText(exactSae(32, hook, { kind: 'dataset-scale', scale: 3 }), model, tokenizer, samples, { threads: 1, context: 16 });
    expect(Math.abs(exact.loss!.zero - exact.loss!.clean)).toBeGreaterThan(1e-3); // the ablation matters
    expect(exact.loss!.spliced).toBeCloseTo(exact.loss!.clean, 4);
    expect(exact.loss!.lossRecovered).toBeCloseTo(1, 3);
    expect(exact.metrics.fve).toBeCloseTo(1, 5);
    const tokens = samples.reduce((s, x) => s + tokenizer.encode(x.text).length - 1, 0);
    expect(exact.metrics.tokens).toBe(tokens); // BOS left out
    // Every token after the first of its 16-token window is predicted.
    const windows = samples.flatMap((x) => { const n = tokenizer.encode(x.text).length; return Array.from({ length: Math.ceil(n / 16) }, (_, w) => Math.min(16, n - w * 16)); });
    expect(exact.loss!.tokens).toBe(windows.reduce((s, w) => s + w - 1, 0));
    const zeroSae = exactSae(32, hook, { kind: 'dataset-scale', scale: 3 });
    zeroSae.weights.W_dec.fill(0);
    const zero = await evaluateOnText(zeroSae, model, tokenizer, samples, { threads: 1, context: 16 });
    expect(zero.loss!.lossRecovered).toBeCloseTo(0, 3);
    const only = await evaluateOnText(exactSae(32, hook, { kind: 'dataset-scale', scale: 3 }), model, tokenizer, samples, { threads: 1, context: 16, activationsOnly: true });
    expect(only.loss).toBeNull();
    expect(only.metrics.tokens).toBe(tokens);
  });
});

describe('cross-seed consistency', () => {
  it('finds every latent again in a permuted, rescaled copy, and fewer in another SAE; top-α by frequency', async () => {
    const a = reluSae(8, 40, 1);
    const perm = Array.from({ length: 40 }, (_, i) => (i * 7) % 40);
    const b = reluSae(8, 40, 2);
    perm.forEach((p, i) => { for (let j = 0; j < 8; j++) b.weights.W_dec[i * 8 + j] = a.weights.W_dec[p * 8 + j]! * (1 + i); });
    const same = await maxCosine(a, b, { threads: 1, block: 16 });
    for (const v of same) expect(v).toBeCloseTo(1, 5);
    const other = await crossSeedConsistency(a, reluSae(8, 40, 5), { threads: 1 });
    expect(other.fractionAbove).toBeLessThan(0.5);
    expect(other.latents).toBe(40);
    // Top-α: with latent 3 the most active and α = 1/40, only it counts.
    const frequency = Array.from({ length: 40 }, (_, m) => (m === 3 ? 1 : 0.1));
    const top = await crossSeedConsistency(a, reluSae(8, 40, 5), { threads: 1, alpha: 1 / 40, frequency });
    expect(top.latents).toBe(1);
    expect(top.meanMcs).toBeCloseTo(other.mcs[3]!, 6);
  });
});
