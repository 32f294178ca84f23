// The synthetic recovery study's parts: the planted stream is a pure function of (seed, batch) so resumed runs see
// the same data; recovery metrics score a dictionary that contains the features as perfect and a random one as not;
// the study's JSON has the keys.
import { describe, expect, it } from 'vitest';
import { PlantedSource, SETTINGS, maxCosine, plantedFeatures, recovery, runSyntheticStudy, syntheticRuns } from '../../workers/sae/synthetic';
import { parseSaeTrainConfig } from '../../workers/sae/model';
import { syntheticJson } from '../../main/cli/commands/experiment-gba';
import type { Sae } from '../../workers/sae/types';

const spec = { ...SETTINGS.imbalanced, seed: 4 };
const V = plantedFeatures(spec.n, spec.d, 4);

/** A JumpReLU SAE whose dictionary is the planted features themselves (threshold 0, no pre-bias). */
function oracle(): Sae {
  const { n, d } = spec;
  const W_enc = new Float32Array(d * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) W_enc[j * n + i] = V[i * d + j]!;
  return {
    config: { method: 'gba', activation: { kind: 'jumprelu' }, dIn: d, dSae: n, hook: { model: '', name: 'external', layer: -1, kind: 'external' }, normalization: { kind: 'none', scale: 1 }, excludeBos: true, hyper: {} },
    weights: { W_enc, b_enc: new Float32Array(n), W_dec: Float32Array.from(V), b_dec: new Float32Array(d), threshold: new Float32Array(n) },
  };
}

describe('synthetic study', () => {
  it('planted batches depend only on (seed, batch index); tokens mix s of the unit features', async () => {
    const src = new PlantedSource(spec, V, 64 * 10);
    const all: Float32Array[] = [];
    for await (const b of src.batches(64, 2)) all.push(b);
    const tail: Float32Array[] = [];
    for await (const b of src.batches(64, 2, 7)) tail.push(b);
    expect(all).toHaveLength(10);
    expect(tail).toEqual(all.slice(7));
    const other = (await src.batches(64, 3)[Symbol.asyncIterator]().next()).value as Float32Array;
    expect(other).not.toEqual(all[0]);
    for (let i = 0; i < 5; i++) {
      let s = 0;
      for (let j = 0; j < spec.d; j++) s += V[i * spec.d + j]! ** 2;
      expect(s).toBeCloseTo(1, 5);
    }
  });

  it('scores the features themselves as fully recovered and a shuffled dictionary as not', () => {
    const src = new PlantedSource(spec, V, 1024);
    const sae = oracle();
    const m = recovery(src, sae, 512, 1);
    expect(m.frr_0_9).toBe(1);
    expect(m.mean_mcs).toBeCloseTo(1, 5);
    // A dictionary of other random directions: best cosines of random vectors in d = 42 stay far below 0.8.
    const bad = { ...sae, weights: { ...sae.weights, W_dec: plantedFeatures(spec.n, spec.d, 99) } };
    const mcs = maxCosine(V, spec.n, spec.d, bad, new Uint8Array(spec.n).fill(1));
    expect(Math.max(...mcs)).toBeLessThan(0.8);
  });

  it('every TopK run can engage AuxK: its dead-latent window is a small part of the tokens it trains on', () => {
    // The trainer's default window (10⁷ tokens, the LLM convention) exceeds the study's whole budget (6 000 × 512 ≈
    // 3·10⁶ tokens), which left AuxK inert: no latent could ever be marked dead.
    const topk = syntheticRuns().filter((r) => r.config.method === 'topk');
    expect(topk).toHaveLength(3);
    for (const r of topk) {
      const c = parseSaeTrainConfig(r.config);
      expect(c.deadTokens).toBeLessThanOrEqual((c.steps * c.batchSize) / 10);
    }
  });

  it('runs a (shortened) study and reports the issue\'s keys', async () => {
    const r = await runSyntheticStudy({ only: ['ba', 'topk-20'], scale: 0.002, evalTokens: 256, threads: 1 });
    const json = syntheticJson(r) as { runs: Record<string, Record<string, number>> };
    expect(Object.keys(json.runs)).toEqual(['ba', 'topk-20']);
    for (const run of Object.values(json.runs)) {
      for (const k of ['frr_0.8', 'frr_0.9', 'mean_mcs', 'l0', 'fve', 'dead']) expect(Number.isFinite(run[k])).toBe(true);
    }
    expect(json.runs['topk-20']!.l0).toBe(20);
  });
});
