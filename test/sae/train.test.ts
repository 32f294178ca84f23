// trainSae: the step graph's streamed statistics, checkpoint resume equal to uninterrupted training (GBA and TopK with
// AuxK), pause and cancel hooks, metrics, and the trained SAE in the shared JumpReLU form (types.ts).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../workers/engine';
import { SaeStepRunner, buildSaeStep } from '../../workers/sae/graph';
import { initParams, parseSaeTrainConfig, type SaeTrainConfigInput } from '../../workers/sae/model';
import { type SaeStepMetrics, trainSae } from '../../workers/sae/train';
import { MemoryActivationSource } from '../../workers/sae/train-source';

const D = 8;
function source(tokens = 700, seed = 3): MemoryActivationSource {
  const rand = mulberry32(seed);
  // Non-negative mixtures of a few directions plus noise: something for the SAE to learn.
  const dirs = Float32Array.from({ length: 12 * D }, () => rand() * 2 - 1);
  const x = new Float32Array(tokens * D);
  for (let t = 0; t < tokens; t++) {
    for (let k = 0; k < 2; k++) {
      const f = Math.floor(rand() * 12);
      const h = 0.5 + rand();
      for (let j = 0; j < D; j++) x[t * D + j]! += h * dirs[f * D + j]!;
    }
    for (let j = 0; j < D; j++) x[t * D + j]! += 0.05 * (rand() - 0.5);
  }
  return new MemoryActivationSource(x, D);
}
const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'resect-sae-train-'));

const gba: SaeTrainConfigInput = { method: 'gba', latents: 24, groups: 3, htf: 0.5, ltf: 0.05, batchSize: 64, steps: 30, adaptEvery: 4, lr: 3e-3 };
const topk: SaeTrainConfigInput = { method: 'topk', latents: 24, k: 3, auxK: 4, deadTokens: 256, batchSize: 64, steps: 30, lr: 3e-3 };

describe('trainSae', () => {
  it('streams per-latent firing counts and peak pre-activations out of the step graph', async () => {
    const c = parseSaeTrainConfig({ ...gba, batchSize: 16 });
    const src = source(16);
    const x = (await src.batches(16, 0)[Symbol.asyncIterator]().next()).value as Float32Array;
    const init = initParams(c, D, new Float32Array(D));
    const bias = Float32Array.from({ length: 24 }, (_, m) => -0.05 * (m % 5));
    const runner = await SaeStepRunner.create(buildSaeStep(c, D), init);
    const r = await runner.step(x, { bias }, 1e-3, 1);
    await runner.dispose();
    const W = init.get('W')!;
    const bPre = init.get('b_pre')!;
    for (let m = 0; m < 24; m++) {
      let count = 0;
      let peak = -Infinity;
      for (let t = 0; t < 16; t++) {
        let y = bias[m]!;
        for (let j = 0; j < D; j++) y += W[m * D + j]! * (x[t * D + j]! - bPre[j]!);
        if (y > 0) count++;
        peak = Math.max(peak, y);
      }
      expect(r.fired[m]).toBe(count);
      expect(r.peak![m]).toBeCloseTo(peak, 5);
    }
  });

  for (const [name, cfg] of [['GBA', gba], ['TopK with AuxK', topk]] as const) {
    it(`${name}: pausing at step 13 and resuming from the checkpoint equals training straight through`, async () => {
      const straight = await trainSae(cfg, source());
      const dir = tmp();
      const first = await trainSae(cfg, source(), { checkpointDir: dir, stopAtStep: 13 });
      expect(first.outcome).toBe('paused');
      expect(first.step).toBe(13);
      const resumed = await trainSae(cfg, source(), { checkpointDir: dir, resume: true });
      expect(resumed.outcome).toBe('finished');
      expect(resumed.step).toBe(30);
      expect(resumed.sae.weights).toEqual(straight.sae.weights);
      expect(resumed.sae.gba).toEqual(straight.sae.gba);
      expect(resumed.sae.config.normalization).toEqual(straight.sae.config.normalization);
    });
  }

  it('reports metrics per step, stops on pause and on cancel', async () => {
    const seen: SaeStepMetrics[] = [];
    let paused = false;
    const r = await trainSae(gba, source(), { onStep: (m) => seen.push(m), shouldPause: () => paused || (paused = seen.length === 9) });
    expect(r.outcome).toBe('paused');
    expect(r.step).toBe(9);
    expect(seen.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const m = seen.at(-1)!;
    expect(m.groups!.target).toHaveLength(3);
    expect(m.groups!.realized.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(m.l0).toBeGreaterThan(0);
    expect(m.fve).toBeLessThanOrEqual(1);
    const ac = new AbortController();
    const c = await trainSae(gba, source(), { signal: ac.signal, onStep: (s) => { if (s.step === 4) ac.abort(); } });
    expect(c.outcome).toBe('cancelled');
    expect(c.step).toBe(4);
  });

  it('learns: GBA reconstruction improves and the SAE is in the JumpReLU form (threshold = −b, W_dec = a·w)', async () => {
    const log: SaeStepMetrics[] = [];
    const r = await trainSae({ ...gba, steps: 200 }, source(), { onStep: (m) => log.push(m) });
    expect(log.at(-1)!.mse).toBeLessThan(log[0]!.mse * 0.7);
    const { weights, gba: state, config } = r.sae;
    expect(config.activation).toEqual({ kind: 'jumprelu' });
    expect(Array.from(weights.threshold!)).toEqual(Array.from(state!.bias, (b) => -b));
    for (const b of state!.bias) expect(b >= -1 && b <= 0).toBe(true);
    // Row m of W_dec is a_m times the unit row w_m = column m of W_enc.
    for (let m = 0; m < 24; m++) {
      let n2 = 0;
      for (let j = 0; j < D; j++) n2 += weights.W_enc[j * 24 + m]! ** 2;
      expect(Math.sqrt(n2)).toBeCloseTo(1, 4);
      for (let j = 0; j < D; j++) expect(weights.W_dec[m * D + j]).toBeCloseTo(state!.scale[m]! * weights.W_enc[j * 24 + m]!, 5);
    }
  });

  it('is scale invariant with dataset normalization: inputs × 5 train the same SAE (spec §5.9 test 4)', async () => {
    const base = source();
    const scaled = new MemoryActivationSource(base.data.map((v) => v * 5), D);
    const a = await trainSae({ ...gba, steps: 40 }, base);
    const b = await trainSae({ ...gba, steps: 40 }, scaled);
    expect(b.sae.config.normalization.scale).toBeCloseTo(a.sae.config.normalization.scale / 5, 6);
    const maxDiff = (x: Float32Array, y: Float32Array): number => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
    expect(maxDiff(a.sae.weights.W_enc, b.sae.weights.W_enc)).toBeLessThan(1e-3);
    expect(maxDiff(a.sae.gba!.bias, b.sae.gba!.bias)).toBeLessThan(1e-3);
    // Without normalization the same inputs × 5 give other biases (the clamp assumes ‖x‖ ≈ 1, spec §5.3).
    const raw = await trainSae({ ...gba, steps: 40, normalize: 'none' }, scaled);
    expect(maxDiff(a.sae.gba!.bias, raw.sae.gba!.bias)).toBeGreaterThan(1e-2);
  });
});
