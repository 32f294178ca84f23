/** Resection on the tiny fixtures: routing pass, evaluation before/after, export parity, baking, scorers. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MonetModel } from '../../workers/models/monet/model';
import { openMonetCheckpoint } from '../../workers/models/monet/checkpoint';
import { parseMaskJson } from '../../workers/models/monet/mask';
import { loadTokenizer, type TextTokenizer } from '../../workers/tokenizer';
import { collectRoutingStats, loadRoutingStats, saveRoutingStats, tokenScores } from '../../workers/analysis/resection/routing';
import { pearsonTwoPass } from '../../workers/analysis/resection/stats';
import { selectByDomain, selectByScore } from '../../workers/analysis/resection/select';
import { evaluateMask } from '../../workers/analysis/resection/evaluate';
import { bakeable, exportBaked, exportMasked, MASKS_FILE, readExportedMask, RECIPE_FILE } from '../../workers/analysis/resection/export';
import { lexiconScorer, OnnxClassifierScorer } from '../../workers/analysis/resection/scorers';
import { domainMasking } from '../../workers/analysis/resection/experiment';
import { Graph, op, serialize } from '../../workers/engine';
import { charTokenizer, fixtureWithTokenizer, maxAbsDiff } from '../monet/helpers';
import { labelledSamples } from './helpers';

let dir: string;
let hdDir: string;
let model: MonetModel;
let tok: TextTokenizer;
let tmp: string;

beforeAll(async () => {
  dir = await fixtureWithTokenizer('monet-vd-tiny');
  hdDir = await fixtureWithTokenizer('monet-hd-tiny');
  model = await MonetModel.load(dir, { intraOpThreads: 1 });
  tok = await loadTokenizer(dir, { bosTokenId: 1, eosTokenId: 2 });
  tmp = await mkdtemp(path.join(tmpdir(), 'resect-resection-'));
});
afterAll(async () => {
  await model?.dispose();
  for (const d of [dir, hdDir]) await rm(path.dirname(d), { recursive: true, force: true });
  await rm(tmp, { recursive: true, force: true });
});

describe('routing pass', () => {
  it('accumulates per-domain mean routing and correlation sums equal to a brute-force pass', async () => {
    const samples = labelledSamples().slice(0, 6).map((s, k) => ({ ...s, scores: { tox: (k % 3) / 2 } }));
    const t = await collectRoutingStats(model, tok, samples, { scoreNames: ['tox'], batchRows: 2 });
    expect(t.domains.sort()).toEqual(['code', 'prose']);
    // Brute force: one sample at a time, dense E² per token.
    const E = 8;
    const H = model.config.moe_heads;
    const N = E * E;
    const sums = [0, 1].map(() => new Map<string, Float64Array>());
    const xs: number[][][] = [[], []]; // [group][token] → dense S
    const ys: number[] = [];
    const counts = new Map<string, number>();
    for (const s of samples) {
      const ids = tok.encode(s.text);
      const out = await model.forward({ ids, batch: 1, time: ids.length, logits: 'none', gates: true });
      for (let t2 = 0; t2 < ids.length; t2++) {
        if (t2 === 0 && ids[0] === 1) continue; // the prepended BOS only
        counts.set(s.domain, (counts.get(s.domain) ?? 0) + 1);
        ys.push(s.scores.tox);
        for (let g = 0; g < 2; g++) {
          const { g1, g2 } = out.gates![g]!;
          const S = new Array<number>(N).fill(0);
          for (let h = 0; h < H; h++) for (let i = 0; i < E; i++) for (let j = 0; j < E; j++) S[i * E + j]! += g1[(t2 * H + h) * E + i]! * g2[(t2 * H + h) * E + j]!;
          xs[g]!.push(S);
          let acc = sums[g]!.get(s.domain);
          if (!acc) sums[g]!.set(s.domain, (acc = new Float64Array(N)));
          for (let e = 0; e < N; e++) acc[e]! += S[e]!;
        }
      }
    }
    for (let g = 0; g < 2; g++) {
      for (const [d, acc] of sums[g]!) {
        const means = t.domainMeans(g, t.domains.indexOf(d));
        expect(maxAbsDiff(means, Array.from(acc, (v) => v / counts.get(d)!))).toBeLessThan(1e-6);
      }
      const s = selectByScore(t, { kind: 'score', score: 'tox', tau: -2 });
      const rs = new Map(s.experts.filter((e) => e.group === g).map((e) => [e.id, e.value]));
      for (const e of [0, 9, 27, 63]) expect(rs.get(e) ?? 0).toBeCloseTo(pearsonTwoPass(xs[g]!.map((S) => S[e]!), ys), 5);
    }
    // Save / load round trip.
    await saveRoutingStats(path.join(tmp, 'stats'), t);
    const back = await loadRoutingStats(path.join(tmp, 'stats'));
    expect(back.domains).toEqual(t.domains);
    expect(Array.from(back.domainMeans(1, 0))).toEqual(Array.from(t.domainMeans(1, 0)));
    expect(back.corrSums(0, 'tox')!.n).toBe(t.corrSums(0, 'tox')!.n);
  });

  it('leaves out only a prepended BOS, not a token with BOS\'s id inside the text (issue 20.8)', async () => {
    // A tokenizer that puts the BOS id inside the text too (an end-of-text separator when BOS = EOS).
    const inner: TextTokenizer = Object.assign(Object.create(tok) as TextTokenizer, {
      encode: (text: string, o?: { addBos?: boolean }) => { const ids = tok.encode(text, o); return [...ids.slice(0, 3), 1, ...ids.slice(3)]; },
    });
    const samples = labelledSamples().slice(0, 2);
    const t = await collectRoutingStats(model, inner, samples);
    for (const s of samples) {
      const ids = inner.encode(s.text);
      expect(ids[0]).toBe(1);
      expect(t.domainTokens[t.domains.indexOf(s.domain)]).toBe(ids.length - 1);
    }
  });

  it('tokenScores sums heads over the sparse supports', () => {
    const H = 2, E = 2;
    const g1 = new Float32Array([1, 0, 0.5, 0.5]);
    const g2 = new Float32Array([0, 1, 1, 0]);
    const scratch = new Float64Array(4);
    const touched: number[] = [];
    tokenScores(g1, g2, 0, H, E, scratch, touched);
    expect(Array.from(scratch)).toEqual([0.5, 1, 0.5, 0]);
    expect(touched.sort()).toEqual([0, 1, 2]);
  });
});

describe('evaluation and the experiment', () => {
  it('measures per-domain perplexity before and after a domain mask, and generations', async () => {
    const samples = labelledSamples();
    const stats = await collectRoutingStats(model, tok, samples);
    const sel = selectByDomain(stats, { kind: 'domain', domain: 'code' });
    expect(sel.experts.length).toBeGreaterThan(0);
    const mask = parseMaskJson(model.config, sel.mask);
    const r = await evaluateMask(model, tok, mask, { samples, target: 'code', prompts: ['def f(x):'], maxTokens: 6 });
    const p = r.perplexity!;
    expect(p.rows.map((x) => x.domain)).toEqual(['code', 'prose']);
    for (const row of p.rows) expect(row.pplAfter).not.toBe(row.pplBefore);
    expect(p.targetRelIncrease).toBeCloseTo(p.rows[0]!.relIncrease, 12);
    expect(p.othersMeanRelIncrease).toBeCloseTo(p.rows[1]!.relIncrease, 12);
    expect(r.generations[0]!.before).toHaveLength(6);
    expect(r.generations[0]!.after).toHaveLength(6);
  });

  it('toxicity protocol: k samples × n tokens, expected max toxicity and probability, held-out guard', async () => {
    const scorer = await lexiconScorer('presence', ['a', 'e']); // letters as words: the tiny model emits them
    const r = await evaluateMask(model, tok, parseMaskJson(model.config, { layers: { 0: [0, 1, 2] } }), {
      toxicity: { prompts: ['hi ', 'so '], scorer, k: 3, n: 5, heldout: labelledSamples().slice(0, 2) },
    });
    const t = r.toxicity!;
    expect(t.before.prompts).toBe(2);
    expect(t.before.samplesPerPrompt).toBe(3);
    // Presence scores are 0 or 1, so each prompt's max is too, and both figures are the share of prompts with a hit
    // (the figures against brute force: metrics.test.ts).
    for (const p of t.prompts) expect([0, 1]).toContain(p.maxBefore);
    const hits = t.prompts.filter((p) => p.maxBefore === 1).length / 2;
    expect(t.before.expectedMaxToxicity).toBe(hits);
    expect(t.before.toxicityProbability).toBe(hits);
    expect(t.helpfulness!.pplAfter).toBeGreaterThan(0);
    // Toxic and non-toxic prompts apart (issue 20.8): neither prompt holds a listed word, so all are non-toxic.
    expect(t.prompts.map((p) => p.promptScore)).toEqual([0, 0]);
    expect(t.split.toxic).toBeNull();
    expect(t.split.nonToxic).toEqual({ before: t.before, after: t.after });
  });

  it('domain-masking experiment gives the Table 11 shape for every domain', async () => {
    const r = await domainMasking(model, tok, labelledSamples(), { stats: await collectRoutingStats(model, tok, labelledSamples()) });
    expect(Object.keys(r.domains)).toEqual(['code', 'prose']);
    // Each domain's row removes the experts the counts table gives it (the figures themselves: metrics.test.ts).
    for (const [d, row] of Object.entries(r.domains)) {
      expect(row.experts_removed).toBe(r.counts.totals[r.counts.domains.indexOf(d)]);
      expect(row.ppl_after).toBeGreaterThan(1);
      expect(row.target_rel_increase).toBeCloseTo((row.ppl_after - row.ppl_before) / row.ppl_before, 12);
    }
    expect(r.counts.totals.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});

describe('export', () => {
  it('masked folder: original files linked or copied untouched, masks + recipe, same masked forward', async () => {
    const maskJson = { groups: { 0: [3, 10, 17] }, layers: { 3: [5] }, rows: { 1: [2] } };
    const out = path.join(tmp, 'export-masked');
    const before = await readFile(path.join(dir, 'model.safetensors'));
    const r = await exportMasked(dir, maskJson, out, { recipe: { edits: [{ name: 'test', rule: { kind: 'domain', ratio: 2 } }] } });
    expect(r.files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', MASKS_FILE, RECIPE_FILE]));
    expect((await readFile(path.join(dir, 'model.safetensors'))).equals(before)).toBe(true);
    const recipe = JSON.parse(await readFile(path.join(out, RECIPE_FILE), 'utf8'));
    expect(recipe.edits[0].name).toBe('test');
    const ckpt = await openMonetCheckpoint(out);
    const mask = await readExportedMask(out, ckpt.config);
    await ckpt.close();
    expect(mask).toEqual(parseMaskJson(model.config, maskJson));
    const exported = await MonetModel.load(out, { intraOpThreads: 1 });
    try {
      const ids = tok.encode('the cat sat on the mat');
      const a = await model.forward({ ids, batch: 1, time: ids.length, masks: parseMaskJson(model.config, maskJson) });
      const b = await exported.forward({ ids, batch: 1, time: ids.length, masks: mask });
      expect(maxAbsDiff(a.logits!, b.logits!)).toBe(0);
      const plain = await model.forward({ ids, batch: 1, time: ids.length });
      expect(maxAbsDiff(a.logits!, plain.logits!)).toBeGreaterThan(1e-4);
    } finally {
      await exported.dispose();
    }
    await expect(exportMasked(dir, maskJson, out)).rejects.toThrow(/not empty/);
  });

  it('baked checkpoint only for HD column masks, and then it equals the masked forward', async () => {
    const vdCfg = model.config;
    expect(bakeable(vdCfg, { columns: { 0: [1] } })).toMatchObject({ ok: false, reason: expect.stringMatching(/VD/) });
    expect(bakeable(vdCfg, { layers: { 0: [1] } })).toMatchObject({ ok: false, reason: expect.stringMatching(/composite/) });
    const hd = await MonetModel.load(hdDir, { intraOpThreads: 1 });
    try {
      expect(bakeable(hd.config, { rows: { 0: [1] } })).toMatchObject({ ok: false });
      const maskJson = { columns: { 0: [1, 4], 3: [2] } };
      expect(bakeable(hd.config, maskJson)).toEqual({ ok: true });
      const out = path.join(tmp, 'export-baked');
      const r = await exportBaked(hdDir, maskJson, out);
      expect(r.zeroedBlocks).toBe(2 * 3);
      const baked = await MonetModel.load(out, { intraOpThreads: 1 });
      try {
        const ids = tok.encode('hello there, general');
        const a = await hd.forward({ ids, batch: 1, time: ids.length, masks: parseMaskJson(hd.config, maskJson) });
        const b = await baked.forward({ ids, batch: 1, time: ids.length });
        expect(maxAbsDiff(a.logits!, b.logits!)).toBeLessThan(1e-5);
      } finally {
        await baked.dispose();
      }
    } finally {
      await hd.dispose();
    }
  });
});

describe('scorers', () => {
  it('lexicon: fraction and presence of bad-words hits', async () => {
    const f = await lexiconScorer('fraction');
    // "damn" is on the list, "idiot" is not (so the first text scores 1 hit in 5 words).
    expect(await f.score(['you are a damn idiot', 'a kind word', ''])).toEqual([1 / 5, 0, 0]);
    const [x] = await f.score(['what the hell, damn it']);
    expect(x).toBeCloseTo(2 / 5, 12);
    const p = await lexiconScorer('presence');
    expect(await p.score(['damn', 'fine'])).toEqual([1, 0]);
  });

  it('onnx: a tiny classifier built with the engine (input_ids int64 [1,T] → one logit)', async () => {
    // logit = max over tokens of w[id]: +4 for "!", −4 otherwise.
    const V = 97;
    const w = new Float32Array(V).fill(-4);
    w[3 + '!'.charCodeAt(0) - 32] = 4;
    const g = new Graph('tox');
    const ids = g.input('input_ids', 'int64', [1, 'T']);
    const table = g.initializer('w', 'float32', [V], w);
    g.output('logit', op.reduceMax(op.gather(table, ids), [1], true));
    const cdir = path.join(tmp, 'clf');
    await import('node:fs/promises').then((fs) => fs.mkdir(cdir, { recursive: true }));
    await writeFile(path.join(cdir, 'toxic.onnx'), serialize(g).model);
    await writeFile(path.join(cdir, 'tokenizer.json'), JSON.stringify(charTokenizer()));
    const s = await OnnxClassifierScorer.open(path.join(cdir, 'toxic.onnx'));
    try {
      const [a, b] = await s.score(['calm text', 'angry!']);
      expect(a).toBeCloseTo(1 / (1 + Math.exp(4)), 6);
      expect(b).toBeCloseTo(1 / (1 + Math.exp(-4)), 6);
      expect(s.name).toBe('onnx:toxic.onnx');
    } finally {
      await s.dispose?.();
    }
    expect((await stat(path.join(cdir, 'toxic.onnx'))).size).toBeGreaterThan(0);
  });
});
