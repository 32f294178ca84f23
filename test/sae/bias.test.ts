// The bias-adaptation rule in isolation (spec gba.md §5.9 test 3): a fixed random unit W on isotropic Gaussian inputs;
// every group's realized firing rate must come down from ≈ 0.5 (b = 0) to just below its target, which acts as a
// ceiling (§2.3). Plus the rule's edge cases: the clamp, revival of dead latents, the group baseline's fallback.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../workers/engine';
import { BiasAdapter, type BiasRuleOptions } from '../../workers/sae/bias';
import { groupOf, groupTargets, normalizeRows, parseSaeTrainConfig } from '../../workers/sae/model';

const RULE: BiasRuleOptions = { gammaMinus: 0.01, gammaPlus: 0.01, deadRate: 1e-6, biasMin: -1, biasMax: 0, minExpectedFirings: 0, decreaseMarginSigmas: 0 };

describe('bias rule', () => {
  it('brings every group of a fixed random dictionary to just below its target frequency', () => {
    const d = 16;
    const M = 50;
    const c = parseSaeTrainConfig({ method: 'gba', latents: M, groups: 5, htf: 0.5, ltf: 0.02 });
    const targets = groupTargets(c);
    const rand = mulberry32(5);
    const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
    const W = Float32Array.from({ length: M * d }, gauss);
    normalizeRows(W, d);
    const rule = new BiasAdapter(new Float32Array(M), groupOf(M, 5), targets, RULE);
    const L = 256;
    const x = new Float32Array(L * d);
    const fired = new Float32Array(M);
    const peak = new Float32Array(M);
    const rates: number[][] = [];
    for (let update = 0; update < 250; update++) {
      // One window of 10 batches: the statistics the step graph would stream (counts of y > 0, max y).
      for (let b = 0; b < 10; b++) {
        for (let i = 0; i < x.length; i++) x[i] = gauss() / Math.sqrt(d);
        fired.fill(0);
        peak.fill(-Infinity);
        for (let t = 0; t < L; t++) {
          for (let m = 0; m < M; m++) {
            let y = rule.bias[m]!;
            for (let j = 0; j < d; j++) y += W[m * d + j]! * x[t * d + j]!;
            if (y > 0) fired[m]!++;
            if (y > peak[m]!) peak[m] = y;
          }
        }
        rule.observe(fired, peak, L);
      }
      rule.adapt();
      rates.push(Array.from(rule.lastRate));
    }
    // At b = 0 every latent fires on about half the tokens.
    for (const r of rates[0]!) expect(r).toBeGreaterThan(0.4);
    // Averaged over the last 50 windows each group sits below its target and within a factor of 2 of it.
    const tail = rates.slice(-50);
    targets.forEach((p, k) => {
      const mean = tail.reduce((s, r) => s + r[k]!, 0) / tail.length;
      expect(mean / p, `group ${k} (target ${p})`).toBeLessThanOrEqual(1.02);
      expect(mean / p, `group ${k} (target ${p})`).toBeGreaterThan(0.5);
    });
    for (const b of rule.bias) expect(b >= -1 && b <= 0).toBe(true);
  });

  it('lowers by γ₋·peak, clamps at −1, raises dead latents by γ₊·(group mean positive peak), falls back to the global mean', () => {
    // Latents 0, 1 in group 0 (target 0.1); 2, 3 in group 1 (target 0.1).
    const rule = new BiasAdapter(Float32Array.of(-0.5, -0.999, -0.2, -0.3), Int32Array.of(0, 0, 1, 1), Float32Array.of(0.1, 0.1), { ...RULE, gammaMinus: 0.5, gammaPlus: 0.5 });
    // 100 tokens: latent 0 fires 50 times (peak 0.4), latent 1 fires 20 times (peak 2), latents 2, 3 never (peaks < 0).
    rule.observe(Float32Array.of(50, 20, 0, 0), Float32Array.of(0.4, 2, -0.1, -0.2), 100);
    const r = rule.adapt();
    expect(r).toEqual({ lowered: 2, raised: 2 });
    expect(rule.bias[0]).toBeCloseTo(-0.5 - 0.5 * 0.4, 6);
    expect(rule.bias[1]).toBe(-1);
    // Group 1 has no positive peak: the baseline is the global mean of positive peaks, (0.4 + 2) / 2 = 1.2.
    expect(rule.bias[2]).toBe(0);
    expect(rule.bias[3]).toBeCloseTo(Math.min(-0.3 + 0.5 * 1.2, 0), 6);
    // Windows reopen after an update.
    expect(Array.from(rule.count)).toEqual([0, 0, 0, 0]);
    expect(Array.from(rule.windowTokens)).toEqual([0, 0]);
  });

  it('with minExpectedFirings a rare group waits until its window is long enough', () => {
    const rule = new BiasAdapter(Float32Array.of(0, 0), Int32Array.of(0, 1), Float32Array.of(0.5, 0.001), { ...RULE, minExpectedFirings: 10 });
    rule.observe(Float32Array.of(80, 80), Float32Array.of(1, 1), 100);
    rule.adapt();
    expect(rule.bias[0]).toBeLessThan(0); // 100 · 0.5 ≥ 10 firings expected: adapted
    expect(rule.bias[1]).toBe(0); // 100 · 0.001 < 10: keeps accumulating
    expect(rule.windowTokens[1]).toBe(100);
  });
});
