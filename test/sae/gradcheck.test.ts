// Gradient checks of every SAE loss (workers/sae/graph.ts saeForward) against central finite differences, in float64
// on tiny sizes: GBA/BA with the JumpReLU gate and the ReLU gate, tied and untied, TopK with AuxK, ReLU + L1.
import { describe, expect, it } from 'vitest';
import { type GradCase, gradcheck } from '../engine/gradcheck';
import { auxKLoss, saeForward } from '../../workers/sae/graph';
import { type SaeTrainConfigInput, parseSaeTrainConfig } from '../../workers/sae/model';

const L = 3;
const D = 4;
const M = 5;

function saeCase(name: string, cfg: Partial<SaeTrainConfigInput>, inputs: GradCase['inputs']): GradCase {
  const c = parseSaeTrainConfig({ latents: M, batchSize: L, ...cfg });
  return { name, inputs: { x: { shape: [L, D] }, ...inputs }, build: (t) => saeForward(c, t).loss };
}

// Biases around −0.3 so that some gates are open and some closed; the dead mask marks latents 1 and 3.
const bias = { shape: [M], kind: 'const' as const, data: Float64Array.from([-0.3, 0.1, -0.5, -0.05, -0.2]) };
const dead = { shape: [M], kind: 'const' as const, data: Float64Array.from([0, 1, 0, 1, 0]) };
const tied = { W: { shape: [M, D] }, a: { shape: [M], kind: 'pos' as const }, b_pre: { shape: [D] }, bias };
const untied = { W_enc: { shape: [M, D] }, b_enc: { shape: [M] }, W_dec: { shape: [M, D] }, b_dec: { shape: [D] } };

const cases: GradCase[] = [
  saeCase('GBA, JumpReLU gate, tied', { method: 'gba', groups: 2 }, tied),
  saeCase('BA, ReLU gate', { method: 'ba', gate: 'relu' }, tied),
  saeCase('GBA, untied encoder', { method: 'gba', tied: false }, { ...tied, W_enc: { shape: [M, D] } }),
  saeCase('GBA, frozen pre-bias', { method: 'gba', trainPreBias: false }, { ...tied, b_pre: { shape: [D], kind: 'const', data: Float64Array.from([0.1, -0.2, 0.3, 0]) } }),
  {
    // The residual e is a constant of the AuxK term (stopGradient in saeForward), so it is checked with e fed.
    name: 'AuxK term: dead latents model the residual',
    inputs: { pre: { shape: [L, M] }, dead, W_dec: { shape: [M, D] }, e: { shape: [L, D], kind: 'const', data: Float64Array.from({ length: L * D }, (_, i) => Math.sin(i + 1)) } },
    build: ({ pre, dead: d, W_dec: w, e }) => auxKLoss(parseSaeTrainConfig({ method: 'topk', latents: M, batchSize: L, k: 2, auxCoef: 0.5 }), pre!, d!, w!, e!, 2),
  },
  // With AuxK on and no dead latent the term is zero: the full TopK graph's gradient is the main term's.
  saeCase('TopK K 2, AuxK on, no dead latents', { method: 'topk', k: 2, auxK: 2 }, { ...untied, dead: { ...dead, data: new Float64Array(M) } }),
  saeCase('TopK without AuxK', { method: 'topk', k: 3, auxK: 0 }, untied),
  saeCase('ReLU + decoder-norm-weighted L1', { method: 'relu-l1', l1: 0.3 }, untied),
];

describe('SAE loss gradients', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const r = await gradcheck(c, 3);
      expect(r.checked).toBeGreaterThan(0);
      expect(r.maxErr, r.worst).toBeLessThanOrEqual(1);
    });
  }

  it('the GBA loss is ½‖x̂ − x‖² per token with x̂ = Σ a_m w_m z_m 1[z_m + b_m > 0] + b_pre (spec §1.1)', async () => {
    const { Graph, compile } = await import('../../workers/engine');
    const c = parseSaeTrainConfig({ method: 'gba', latents: 2, batchSize: 1 });
    const g = new Graph();
    const t = {
      x: g.input('x', 'float32', [1, 2]), W: g.input('W', 'float32', [2, 2]), a: g.input('a', 'float32', [2]),
      b_pre: g.input('b_pre', 'float32', [2]), bias: g.input('bias', 'float32', [2]),
    };
    const f = saeForward(c, t);
    g.output('loss', f.loss);
    g.output('xhat', f.xhat);
    const run = await compile(g, { provider: 'cpu' });
    // x − b_pre = (1, 0.5); z = (1, 0.5); gates: 1 − 0.2 > 0 open, 0.5 − 0.6 < 0 closed. x̂ = 2·(1,0)·1 + b_pre.
    const r = await run.run({
      x: { data: Float32Array.of(1.5, 0.5), dims: [1, 2] }, W: { data: Float32Array.of(1, 0, 0, 1), dims: [2, 2] },
      a: { data: Float32Array.of(2, 3), dims: [2] }, b_pre: { data: Float32Array.of(0.5, 0), dims: [2] }, bias: { data: Float32Array.of(-0.2, -0.6), dims: [2] },
    });
    expect(Array.from(r.xhat!.data as Float32Array)).toEqual([2.5, 0]);
    expect(Number(r.loss!.data[0])).toBeCloseTo(0.5 * (1 + 0.25), 6);
  });
});
