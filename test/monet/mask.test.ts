/**
 * Exact masking against a brute-force evaluation: for every layer, the expert mixture's output of the layered graph
 * (debug output `moe`) must equal Σ_h Σ_{(i,j) ∉ M} g1[h,i]·g2[h,j]·E_ij(x̃) evaluated expert by expert (spec §3.1),
 * for composite-expert lists, whole rows/columns (§3.3), their combination, and group-scoped masks (§3.5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { MonetModel } from '../../workers/models/monet/model';
import { buildMask, layerMask, MaskError, parseMaskJson, type MonetMask } from '../../workers/models/monet/mask';
import { topExperts } from '../../workers/models/monet/route';
import { FIXTURES } from './helpers';

const relu2 = (v: number) => (v > 0 ? v * v : 0);

/** One expert E_ij(x) for token x (length d), from float32 weights. */
async function expertEvaluator(model: MonetModel, l: number) {
  const c = model.config;
  const d = c.hidden_size;
  const E = c.moe_experts;
  const m = c.moe_dim;
  const p = `model.layers.${l}.moe`;
  const W: Record<string, Float32Array> = {};
  const names = c.moe_decompose === 'vertical' ? ['u1.weight', 'u1.bias', 'u2.weight', 'u2.bias', 'v11.weight', 'v12.weight', 'v21.weight', 'v22.weight', 'b1', 'b2'] : ['u.weight', 'u.bias', 'v.weight', 'b'];
  for (const n of names) W[n] = await model.ckpt.read(`${p}.${n}`);
  // hidden(U, b, e, width): relu²(U_e x + b_e), rows e·width … of U [E·width, d].
  const hidden = (U: Float32Array, b: Float32Array, e: number, width: number, x: ArrayLike<number>) =>
    Array.from({ length: width }, (_, r) => {
      let s = b[e * width + r]!;
      for (let k = 0; k < d; k++) s += U[(e * width + r) * d + k]! * x[k]!;
      return relu2(s);
    });
  // V[:, e·width …] · h for V [rows, E·width].
  const apply = (V: Float32Array, rows: number, e: number, width: number, h: number[]) =>
    Array.from({ length: rows }, (_, o) => h.reduce((s, hv, r) => s + V[o * E * width + e * width + r]! * hv, 0));
  return (i: number, j: number, x: ArrayLike<number>): number[] => {
    if (c.moe_decompose === 'vertical') {
      const mh = m / 2;
      const a1 = hidden(W['u1.weight']!, W['u1.bias']!, i, mh, x);
      const a2 = hidden(W['u2.weight']!, W['u2.bias']!, j, mh, x);
      const half = d / 2;
      const left = apply(W['v11.weight']!, half, i, mh, a1).map((v, o) => v + apply(W['v12.weight']!, half, i, mh, a2)[o]! + W.b1![i * half + o]!);
      const right = apply(W['v21.weight']!, half, j, mh, a1).map((v, o) => v + apply(W['v22.weight']!, half, j, mh, a2)[o]! + W.b2![j * half + o]!);
      return [...left, ...right];
    }
    const a = hidden(W['u.weight']!, W['u.bias']!, i, m, x);
    return apply(W['v.weight']!, d, j, m, a).map((v, o) => v + W.b![j * d + o]!);
  };
}

describe.each(['monet-vd-tiny', 'monet-hd-tiny'])('exact masking vs brute force: %s', (name) => {
  let model: MonetModel;
  beforeAll(async () => {
    model = await MonetModel.load(path.join(FIXTURES, name), { provider: 'cpu', intraOpThreads: 1, debug: true });
  });
  afterAll(async () => model.dispose());

  const ids = [1, 14, 77, 3, 52, 9, 31, 60, 2, 45];
  const cases: [string, (E: number) => Parameters<typeof buildMask>[1]][] = [
    ['none', () => ({})],
    ['composite experts per layer', () => ({ experts: new Map([[0, [2, 8, 19, 24, 52, 61]], [1, [4, 24, 43]], [2, [1, 12, 63]], [3, [7, 17, 18, 44]]]) })],
    ['rows and columns', () => ({ rows: new Map([[0, [1, 5]], [3, [0]]]), columns: new Map([[1, [2]], [2, [3, 6]]]) })],
    ['rows, columns and overlapping pairs', () => ({ rows: new Map([[0, [1]], [1, [4]]]), columns: new Map([[0, [2]]]), experts: new Map([[0, [1 * 8 + 3, 5 * 8 + 2, 6 * 8 + 6]], [1, [4 * 8 + 4, 3 * 8 + 3]]]) })],
    ['group-scoped experts', () => ({ groupExperts: new Map([[0, [0, 9, 18, 27, 36]], [1, [63, 62, 7]]]) })],
  ];

  it.each(cases)('%s', async (_label, make) => {
    const c = model.config;
    const E = c.moe_experts;
    const H = c.moe_heads;
    const d = c.hidden_size;
    const mask: MonetMask = buildMask(c, make(E));
    const out = await model.forward({ ids, batch: 1, time: ids.length, masks: mask, debug: true, logits: 'none' });
    let worst = 0;
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const dbg = out.debug![l]!;
      const lm = layerMask(mask, l);
      const removed = (i: number, j: number) => lm.rows.includes(i) || lm.columns.includes(j) || lm.experts.includes(i * E + j);
      const expert = await expertEvaluator(model, l);
      for (let n = 0; n < ids.length; n++) {
        const x = dbg.xt.subarray(n * d, (n + 1) * d);
        const want = new Float64Array(d);
        for (let i = 0; i < E; i++) {
          for (let j = 0; j < E; j++) {
            if (removed(i, j)) continue;
            let w = 0;
            for (let h = 0; h < H; h++) w += dbg.g1[(n * H + h) * E + i]! * dbg.g2[(n * H + h) * E + j]!;
            if (w === 0) continue;
            const e = expert(i, j, x);
            for (let o = 0; o < d; o++) want[o] = want[o]! + w * e[o]!;
          }
        }
        for (let o = 0; o < d; o++) worst = Math.max(worst, Math.abs(want[o]! - dbg.moe[n * d + o]!));
      }
    }
    expect(worst).toBeLessThan(2e-5);
    // The mask must change the mixture, or the comparison proves nothing.
    if (mask.size > 0) {
      const plain = await model.forward({ ids, batch: 1, time: ids.length, debug: true, logits: 'none' });
      const l = [...mask.keys()][0]!;
      let effect = 0;
      for (let k = 0; k < plain.debug![l]!.moe.length; k++) effect = Math.max(effect, Math.abs(plain.debug![l]!.moe[k]! - out.debug![l]!.moe[k]!));
      expect(effect).toBeGreaterThan(1e-4);
    }
  });

  it('group masks apply to every layer of the group; JSON errors name the key', () => {
    const c = model.config;
    const m = parseMaskJson(c, { groups: { 1: [5] }, rows: { 0: [3] } });
    expect([...m.keys()]).toEqual([0, 2, 3]);
    expect(m.get(2)!.experts).toEqual([5]);
    expect(() => parseMaskJson(c, { groups: { 2: [5] } })).toThrow(/unknown group 2 \(the model has 2 groups/);
    expect(() => parseMaskJson(c, { rows: { 0: [8] } })).toThrow(MaskError);
    expect(() => parseMaskJson(c, { layers: { x: [1] } })).toThrow(/"x" is not a layer index/);
  });

  it('routing top-k from the sparse supports equals the dense E×E ranking', async () => {
    const c = model.config;
    const H = c.moe_heads;
    const E = c.moe_experts;
    const out = await model.forward({ ids, batch: 1, time: ids.length, gates: true, logits: 'none' });
    for (const g of out.gates!) {
      for (let n = 0; n < ids.length; n++) {
        const dense: { id: number; score: number }[] = [];
        for (let i = 0; i < E; i++) for (let j = 0; j < E; j++) {
          let s = 0;
          for (let h = 0; h < H; h++) s += g.g1[(n * H + h) * E + i]! * g.g2[(n * H + h) * E + j]!;
          if (s > 0) dense.push({ id: i * E + j, score: s });
        }
        dense.sort((a, b) => b.score - a.score || a.id - b.id);
        const got = topExperts(g.g1, g.g2, n, H, E, 5);
        expect(got.capped).toBe(false);
        expect(got.experts.map((e) => e.id)).toEqual(dense.slice(0, 5).map((e) => e.id));
        for (const [k, e] of got.experts.entries()) expect(e.score).toBeCloseTo(dense[k]!.score, 6);
      }
    }
  });
});
