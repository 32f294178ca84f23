import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { MonetModel } from '../../workers/models/monet/model';
import { argmax, generate, nucleus, sampleToken, seededRandom } from '../../workers/models/monet/generate';
import { buildMask } from '../../workers/models/monet/mask';
import { perplexity, windows } from '../../workers/models/monet/perplexity';
import { loadTokenizer } from '../../workers/tokenizer';
import { fixtureWithTokenizer, maxAbsDiff } from './helpers';

describe.each(['monet-vd-tiny', 'monet-hd-tiny'])('generation, padding and perplexity: %s', (name) => {
  let dir: string;
  let model: MonetModel;
  beforeAll(async () => {
    dir = await fixtureWithTokenizer(name);
    model = await MonetModel.load(dir, { provider: 'cpu', intraOpThreads: 1 });
  });
  afterAll(async () => {
    await model.dispose();
    await rm(path.dirname(dir), { recursive: true, force: true });
  });
  const prompt = [1, 40, 17, 63, 5, 88, 23];
  const V = 97;

  it('KV-cached greedy generation equals re-running the full forward each step (also masked)', async () => {
    const masks = buildMask(model.config, { experts: new Map([[0, [3, 9, 27]], [3, [5, 60]]]), rows: new Map([[1, [2]]]), columns: new Map([[2, [7]]]) });
    for (const m of [undefined, masks]) {
      const res = await generate(model, prompt, { maxTokens: 12, eosId: null, masks: m });
      expect(res.tokens).toHaveLength(12);
      const seq = [...prompt];
      for (let s = 0; s < 12; s++) {
        const full = await model.forward({ ids: seq, batch: 1, time: seq.length, masks: m });
        seq.push(argmax(full.logits!, (seq.length - 1) * V, V));
      }
      expect(res.tokens).toEqual(seq.slice(prompt.length));
    }
  });

  it('cached step logits equal the full forward logits at that position', async () => {
    const a = await model.forward({ ids: prompt.slice(0, 4), batch: 1, time: 4, useCache: true, logits: 'last' });
    const b = await model.forward({ ids: prompt.slice(4), batch: 1, time: 3, cache: a.cache, logits: 'all' });
    const full = await model.forward({ ids: prompt, batch: 1, time: prompt.length });
    expect(maxAbsDiff(b.logits!, full.logits!.subarray(4 * V))).toBeLessThan(1e-5);
  });

  it('seeded sampling is reproducible and the seed matters', async () => {
    const run = (seed: number) => generate(model, prompt, { maxTokens: 16, temperature: 1.5, topP: 0.95, seed, eosId: null });
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
  });

  it('right and left padding give the unpadded rows', async () => {
    const rows = [prompt, [1, 9, 33, 2, 70], [1, 50]];
    const T = Math.max(...rows.map((r) => r.length));
    const solo = await Promise.all(rows.map((r) => model.forward({ ids: r, batch: 1, time: r.length, gates: true, hidden: [1, 3] })));
    for (const side of ['right', 'left'] as const) {
      const ids = new BigInt64Array(rows.length * T);
      const attention = new Uint8Array(rows.length * T);
      rows.forEach((r, b) => r.forEach((id, t) => {
        const at = b * T + (side === 'left' ? T - r.length + t : t);
        ids[at] = BigInt(id);
        attention[at] = 1;
      }));
      const out = await model.forward({ ids, batch: rows.length, time: T, attention, gates: true, hidden: [1, 3] });
      expect([...out.hidden!.keys()]).toEqual([1, 3]);
      rows.forEach((r, b) => {
        const off = side === 'left' ? T - r.length : 0;
        const got = out.logits!.subarray((b * T + off) * V, (b * T + off + r.length) * V);
        expect([side, b, maxAbsDiff(got, solo[b]!.logits!) < 1e-5]).toEqual([side, b, true]);
        const HE = model.config.moe_heads * model.config.moe_experts;
        const g = out.gates![0]!.g1.subarray((b * T + off) * HE, (b * T + off + r.length) * HE);
        expect(maxAbsDiff(g, solo[b]!.gates![0]!.g1)).toBeLessThan(1e-6);
        const d = model.config.hidden_size;
        for (const l of [1, 3]) {
          const h = out.hidden!.get(l)!.subarray((b * T + off) * d, (b * T + off + r.length) * d);
          expect(maxAbsDiff(h, solo[b]!.hidden!.get(l)!)).toBeLessThan(1e-5);
        }
      });
    }
  });

  it('perplexity: batching, windows and domains agree with per-sample forward passes', async () => {
    const tok = await loadTokenizer(dir);
    const samples = [
      { text: 'the quick brown fox', domain: 'a' },
      { text: 'jumps over the lazy dog, twice over and over again until the window ends', domain: 'b' },
      { text: 'hi', domain: 'a' },
    ];
    const r = await perplexity(model, tok, samples, { context: 16, batchTokens: 40 });
    // Reference: every window alone, NLL from log-softmax of full logits.
    let total = 0;
    let count = 0;
    const per: number[] = [];
    for (const s of samples) {
      let sum = 0;
      let n = 0;
      for (const w of windows(tok.encode(s.text), 16)) {
        const out = await model.forward({ ids: w, batch: 1, time: w.length });
        for (let t = 0; t + 1 < w.length; t++) {
          const row = out.logits!.subarray(t * V, (t + 1) * V);
          const max = Math.max(...row);
          const lse = max + Math.log(row.reduce((acc, x) => acc + Math.exp(x - max), 0));
          sum += lse - row[w[t + 1]!]!;
          n++;
        }
      }
      per.push(sum / n);
      total += sum;
      count += n;
    }
    expect(r.overall.tokens).toBe(count);
    expect(Math.abs(r.overall.nll - total / count)).toBeLessThan(1e-4);
    expect(r.samples.map((s) => s.nll)).toEqual(per.map((x) => expect.closeTo(x, 4)));
    expect(Object.keys(r.domains)).toEqual(['a', 'b']);
    expect(r.domains.a!.tokens + r.domains.b!.tokens).toBe(count);
    expect(r.overall.ppl).toBeCloseTo(Math.exp(r.overall.nll), 6);
  });
});

describe('sampling', () => {
  it('top-p keeps the smallest prefix with mass ≥ p; temperature 0 is argmax', () => {
    const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)];
    expect(nucleus(logits, 1, 0.5).ids).toEqual([0]);
    expect(nucleus(logits, 1, 0.79).ids).toEqual([0, 1]);
    expect(nucleus(logits, 1, 0.81).ids).toEqual([0, 1, 2]);
    const n = nucleus(logits, 1, 0.81);
    expect(n.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(sampleToken(logits, 0, 1, seededRandom(1))).toBe(0);
    // With p = 0.79 only ids 0 and 1 ever come out, in proportion 5:3.
    const rnd = seededRandom(42);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken(logits, 1, 0.79, rnd)]!++;
    expect(counts[2]! + counts[3]!).toBe(0);
    expect(counts[0]! / 20000).toBeCloseTo(0.625, 1);
  });
  it('windows overlap by one token and cover every target once', () => {
    const ids = Array.from({ length: 10 }, (_, i) => i);
    const w = windows(ids, 4);
    expect(w).toEqual([[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]);
    expect(windows([5], 4)).toEqual([]);
  });
});
