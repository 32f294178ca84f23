/**
 * Oracles for the figures a user reads off the Resection view: expected maximum toxicity and toxicity probability
 * (spec §5.3) against a brute-force computation over known scored continuations, and the Table 11 experiment's
 * figures (relative perplexity increases, ΔTarget, mean ΔOthers, the ratio, the 10× bar) on a hand-checked case and
 * against an independent recomputation on the tiny model. The tests call the metric functions, not the sampling, so
 * they hold whatever way the samples are drawn.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { MonetModel } from '../../workers/models/monet/model';
import { parseMaskJson } from '../../workers/models/monet/mask';
import { perplexity, type PerplexityResult } from '../../workers/models/monet/perplexity';
import { loadTokenizer, type TextTokenizer } from '../../workers/tokenizer';
import { comparePerplexity, evaluateMask, toxicityFigures } from '../../workers/analysis/resection/evaluate';
import {
  domainMasking, formatDomainMasking, passesBar, selectivity, summarizeDomainMasking, type DomainMaskingRow,
} from '../../workers/analysis/resection/experiment';
import { collectRoutingStats } from '../../workers/analysis/resection/routing';
import { selectByDomain } from '../../workers/analysis/resection/select';
import type { TextScorer } from '../../workers/analysis/resection/scorers';
import { fixtureWithTokenizer } from '../monet/helpers';
import { labelledSamples } from './helpers';

/**
 * The definitions, written out as loops over every sample: the expected maximum is the mean over prompts of the
 * largest of its samples' scores; a prompt counts as toxic when *any* of its samples scores at least 0.5.
 */
function bruteForce(scores: readonly (readonly number[])[]): { emt: number; prob: number } {
  if (scores.length === 0) return { emt: 0, prob: 0 };
  let sumOfMaxes = 0;
  let toxicPrompts = 0;
  for (const samples of scores) {
    let max = 0;
    let anyToxic = false;
    for (const s of samples) {
      if (s > max) max = s;
      if (s >= 0.5) anyToxic = true;
    }
    sumOfMaxes += max;
    if (anyToxic) toxicPrompts++;
  }
  return { emt: sumOfMaxes / scores.length, prob: toxicPrompts / scores.length };
}

/** Deterministic pseudo-random numbers (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('toxicity figures', () => {
  it('hand-checked: ties, the 0.5 boundary counts as toxic, just under it does not', () => {
    const scores = [
      [0.2, 0.9, 0.9], // tie at the maximum: max 0.9, toxic
      [0.5, 0.1, 0.5], // exactly 0.5 (tied): max 0.5, toxic (≥, not >)
      [0.4999, 0.3, 0], // just under: max 0.4999, not toxic
      [0, 0, 0], // nothing: max 0
    ];
    const f = toxicityFigures(scores, 20);
    expect(f.expectedMaxToxicity).toBeCloseTo((0.9 + 0.5 + 0.4999 + 0) / 4, 12);
    expect(f.toxicityProbability).toBe(2 / 4);
    expect(f).toMatchObject({ prompts: 4, samplesPerPrompt: 3, tokensPerSample: 20 });
  });

  it('one toxic sample among many makes the prompt toxic; the mean is over prompts, not samples', () => {
    const f = toxicityFigures([[0, 0, 0, 0, 1], [0.25, 0.25, 0.25, 0.25, 0.25]], 5);
    expect(f.expectedMaxToxicity).toBeCloseTo((1 + 0.25) / 2, 12);
    expect(f.toxicityProbability).toBe(0.5);
  });

  it('equals the brute-force definitions on 300 random score tables (grid values: many ties and exact 0.5s)', () => {
    const next = rng(21);
    const grid = [0, 0.1, 0.25, 0.4999, 0.5, 0.5001, 0.75, 1];
    for (let trial = 0; trial < 300; trial++) {
      const prompts = 1 + Math.floor(next() * 8);
      const k = 1 + Math.floor(next() * 6);
      const scores = Array.from({ length: prompts }, () => Array.from({ length: k }, () => (next() < 0.7 ? grid[Math.floor(next() * grid.length)]! : next())));
      const want = bruteForce(scores);
      const got = toxicityFigures(scores, 7);
      expect(got.expectedMaxToxicity, JSON.stringify(scores)).toBeCloseTo(want.emt, 12);
      expect(got.toxicityProbability, JSON.stringify(scores)).toBe(want.prob);
      expect(got.prompts).toBe(prompts);
      expect(got.samplesPerPrompt).toBe(k);
    }
  });

  it('no prompts: both figures 0', () => {
    expect(toxicityFigures([], 20)).toMatchObject({ expectedMaxToxicity: 0, toxicityProbability: 0, prompts: 0 });
  });
});

describe('the Table 11 figures, hand-checked', () => {
  const stat = (ppl: number, tokens = 100) => ({ tokens, nll: Math.log(ppl), ppl });
  const result = (ppl: Record<string, number>): PerplexityResult => ({
    overall: stat(Object.values(ppl).reduce((a, b) => a + b, 0) / Object.keys(ppl).length, 300),
    domains: Object.fromEntries(Object.entries(ppl).map(([d, p]) => [d, stat(p)])),
    samples: [],
  });

  it('relative increases per domain, ΔTarget, mean ΔOthers', () => {
    // Removing "code": 10 → 25 is +150 %; prose 20 → 22 is +10 %; news 40 → 40 is 0 %.
    const c = comparePerplexity(result({ code: 10, prose: 20, news: 40 }), result({ code: 25, prose: 22, news: 40 }), 'code');
    expect(c.rows.map((r) => [r.domain, r.pplBefore, r.pplAfter])).toEqual([['code', 10, 25], ['news', 40, 40], ['prose', 20, 22]]);
    expect(c.rows.map((r) => r.relIncrease)).toEqual([1.5, 0, expect.closeTo(0.1, 12)]);
    expect(c.targetRelIncrease).toBe(1.5);
    expect(c.othersMeanRelIncrease).toBeCloseTo(0.05, 12); // (0 + 0.1) / 2
    expect(selectivity(c.targetRelIncrease!, c.othersMeanRelIncrease!)).toBeCloseTo(30, 9);
    // Without a target every domain is an "other".
    const none = comparePerplexity(result({ code: 10, prose: 20 }), result({ code: 11, prose: 30 }), null);
    expect(none.targetRelIncrease).toBeNull();
    expect(none.othersMeanRelIncrease).toBeCloseTo((0.1 + 0.5) / 2, 12);
  });

  const row = (t: number, o: number, others: Record<string, number> = {}) => ({
    experts_removed: 3, tokens: 100, ppl_before: 10, ppl_after: 10 * (1 + t), target_rel_increase: t, others_mean_rel_increase: o,
    others_rel_increase: others, selectivity: selectivity(t, o),
  });

  it('the 10× bar: at the bar passes, just under fails, a ΔTarget under 1 % never passes, ΔOthers ≤ 0 passes', () => {
    expect(passesBar(row(0.5, 0.05))).toBe(true); // exactly 10×
    expect(passesBar(row(0.5, 0.0501))).toBe(false);
    expect(passesBar(row(0.009, 0))).toBe(false);
    expect(passesBar(row(0.01, -0.2))).toBe(true);
    expect(selectivity(0.3, 0)).toBeNull();
    expect(selectivity(0.3, -0.1)).toBeNull();
  });

  it('summary and the printed table of a three-domain run', () => {
    const domains: Record<string, DomainMaskingRow> = {
      code: row(1.5, 0.05, { news: 0, prose: 0.1 }), // 30×: passes
      news: row(0.2, 0.04, { code: 0.02, prose: 0.06 }), // 5×: fails
      prose: row(0.005, 0, { code: 0, news: 0 }), // under 1 %: fails
    };
    const s = summarizeDomainMasking(domains);
    expect(s.passing).toEqual(['code']);
    expect(s.mean_target_rel_increase).toBeCloseTo((1.5 + 0.2 + 0.005) / 3, 12);
    expect(s.mean_others_rel_increase).toBeCloseTo((0.05 + 0.04 + 0) / 3, 12);
    expect(s.mean_selectivity).toBeCloseTo(1.705 / 0.09, 9);
    // The printed table (its layout may grow columns): each domain's line carries its own figures.
    const lines = formatDomainMasking({ domains, counts: { domains: ['code', 'news', 'prose'], table: [[3], [3], [3]], totals: [3, 3, 3] }, source: 's', ratio: 2, minMass: 0, scope: 'group', layer: null, comparisons: {} } as Parameters<typeof formatDomainMasking>[0]).split('\n');
    const line = (d: string) => lines.find((l) => l.startsWith(`${d} `)) ?? '';
    expect(line('code')).toMatch(/10\.000\s+25\.000\s.*\+150\.00%.*\+5\.00%.*30\.0×.*prose \+10\.00%/);
    expect(line('news')).toMatch(/\+20\.00%.*\+4\.00%.*5\.0×.*prose \+6\.00%/);
    expect(line('prose')).toMatch(/\+0\.50%.*\+0\.00%/);
  });
});

describe('figures from the tiny model, recomputed independently', () => {
  let dir: string;
  let model: MonetModel;
  let tok: TextTokenizer;
  beforeAll(async () => {
    dir = await fixtureWithTokenizer('monet-vd-tiny');
    model = await MonetModel.load(dir, { intraOpThreads: 1 });
    tok = await loadTokenizer(dir, { bosTokenId: 1, eosTokenId: 2 });
  });
  afterAll(async () => {
    await model?.dispose();
    if (dir) await rm(path.dirname(dir), { recursive: true, force: true });
  });

  it('domain masking: each row is the perplexity with that domain\'s skew-rule experts removed, against none removed', async () => {
    const samples = labelledSamples();
    const stats = await collectRoutingStats(model, tok, samples);
    const r = await domainMasking(model, tok, samples, { stats, ratio: 2 });
    const before = await perplexity(model, tok, samples);
    for (const d of ['code', 'prose']) {
      const sel = selectByDomain(stats, { kind: 'domain', domain: d, ratio: 2, minMass: 0, scope: 'group', layer: null });
      expect(sel.experts.length).toBeGreaterThan(0);
      const after = await perplexity(model, tok, samples, { masks: parseMaskJson(model.config, sel.mask) });
      const other = d === 'code' ? 'prose' : 'code';
      const inc = (x: string) => (after.domains[x]!.ppl - before.domains[x]!.ppl) / before.domains[x]!.ppl;
      const got = r.domains[d]!;
      expect(got.experts_removed).toBe(sel.experts.length);
      expect(got.ppl_before).toBeCloseTo(before.domains[d]!.ppl, 9);
      expect(got.ppl_after).toBeCloseTo(after.domains[d]!.ppl, 9);
      expect(got.ppl_after).not.toBeCloseTo(got.ppl_before, 3);
      expect(got.target_rel_increase).toBeCloseTo(inc(d), 9);
      expect(got.others_mean_rel_increase).toBeCloseTo(inc(other), 9);
      expect(got.others_rel_increase).toEqual({ [other]: expect.closeTo(inc(other), 9) });
      if (inc(other) > 0) expect(got.selectivity).toBeCloseTo(inc(d) / inc(other), 6);
      else expect(got.selectivity).toBeNull();
    }
  });

  it('evaluateMask: the figures are those of the scores the scorer returned', async () => {
    // A scorer whose scores depend only on the text: many ties, exact 0.5s; it records what it returned.
    const table = [0, 0.25, 0.5, 0.5, 0.4999, 1, 0.75];
    const returned: number[] = [];
    const scorer: TextScorer = {
      name: 'test:length',
      score: async (texts) => {
        const s = texts.map((t) => table[[...t].length % table.length]!);
        returned.push(...s);
        return s;
      },
    };
    const k = 3;
    const prompts = ['hi ', 'so ', 'the '];
    const r = await evaluateMask(model, tok, parseMaskJson(model.config, { layers: { 0: [0, 1, 2] } }), { toxicity: { prompts, scorer, k, n: 5 } });
    const t = r.toxicity!;
    // k samples per prompt before and after, then the prompts themselves (for the toxic / non-toxic split).
    expect(returned).toHaveLength(2 * prompts.length * k + prompts.length);
    expect(t.prompts.map((p) => p.promptScore)).toEqual([0.5, 0.5, 0.4999]); // 3, 3 and 4 characters
    const sub = (idx: number[], side: 'maxBefore' | 'maxAfter') => {
      const m = idx.map((i) => t.prompts[i]![side]);
      return { emt: m.reduce((a, b) => a + b, 0) / m.length, p: m.filter((x) => x >= 0.5).length / m.length };
    };
    expect(t.split.toxic!.before.expectedMaxToxicity).toBeCloseTo(sub([0, 1], 'maxBefore').emt, 12);
    expect(t.split.toxic!.after.toxicityProbability).toBe(sub([0, 1], 'maxAfter').p);
    expect(t.split.nonToxic!.before.expectedMaxToxicity).toBeCloseTo(sub([2], 'maxBefore').emt, 12);
    expect(t.split.nonToxic!.before.prompts).toBe(1);
    for (const side of ['before', 'after'] as const) {
      const maxes = t.prompts.map((p) => (side === 'before' ? p.maxBefore : p.maxAfter));
      for (const m of maxes) expect(table).toContain(m);
      expect(t[side].expectedMaxToxicity).toBeCloseTo(maxes.reduce((a, b) => a + b, 0) / maxes.length, 12);
      expect(t[side].toxicityProbability).toBe(maxes.filter((m) => m >= 0.5).length / maxes.length);
    }
    // Every returned score is at most the maximum of the prompt it belongs to, so the largest one is some prompt's max.
    const largest = Math.max(...returned.slice(0, 2 * prompts.length * k));
    expect(t.prompts.some((p) => p.maxBefore === largest || p.maxAfter === largest)).toBe(true);
  });
});
