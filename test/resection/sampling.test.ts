/**
 * Issue 20 (items 1, 2, 4, 6) and issue 16 (stratified evaluation): the one sampling function, the bootstrap
 * intervals and the atlas overlap check, on synthetic data (no model).
 */
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { drawProblems, stratifiedSample, type EvalSample } from '../../workers/analysis/resection/sampling';
import { bootstrapComparisons, median, ratioOf } from '../../workers/analysis/resection/bootstrap';
import { atlasOverlap, overlapMessage, samplesOverlap } from '../../workers/analysis/resection/overlap';
import { passesBar } from '../../workers/analysis/resection/experiment';
import { mulberry32 } from '../../workers/engine/random';
import type { PerplexityResult } from '../../workers/models/monet/perplexity';

const words = (n: number, tag: string) => Array.from({ length: n }, (_, k) => `${tag}${k}`).join(' ');
const countWords = (t: string) => t.split(' ').length;

/** A held-out file sorted by domain, as the shipped one: documents cut into consecutive chunks of 50 "tokens". */
function domainSorted(docsPerDomain: Record<string, number>, chunksPerDoc = 4, withDocIds = true): EvalSample[] {
  const out: EvalSample[] = [];
  for (const [domain, docs] of Object.entries(docsPerDomain)) {
    for (let d = 0; d < docs; d++) for (let c = 0; c < chunksPerDoc; c++) out.push({ text: words(50, `${domain}-${d}-${c}-`), domain, ...(withDocIds ? { doc: `${domain}/${d}` } : {}) });
  }
  return out;
}

describe('stratifiedSample', () => {
  const file = domainSorted({ c: 20, css: 20, fiction: 20, news: 20, religion: 20, science: 20 });

  it('keeps every domain of a domain-sorted file, each with its token budget (not the first N samples)', () => {
    const d = stratifiedSample(file, { tokensPerDomain: 500, countTokens: countWords });
    expect(d.domains.map((x) => x.domain)).toEqual(['c', 'css', 'fiction', 'news', 'religion', 'science']);
    for (const x of d.domains) {
      expect(x.tokens).toBeGreaterThanOrEqual(500);
      expect(x.tokens).toBeLessThan(550); // stops at the sample that reaches the budget
      expect(x.short).toBe(false);
    }
    expect(new Set(d.taken.map((s) => s.domain)).size).toBe(6);
    expect(drawProblems(d)).toEqual([]);
  });

  it('is seeded: the same seed draws the same text, another seed other documents', () => {
    const a = stratifiedSample(file, { tokensPerDomain: 500, seed: 1, countTokens: countWords });
    const b = stratifiedSample(file, { tokensPerDomain: 500, seed: 1, countTokens: countWords });
    const c = stratifiedSample(file, { tokensPerDomain: 500, seed: 2, countTokens: countWords });
    expect(b.taken).toEqual(a.taken);
    expect(c.taken).not.toEqual(a.taken);
    // Not simply the first documents of each domain.
    expect(a.taken.filter((s) => s.domain === 'c').every((s) => s.doc === 'c/0' || s.doc === 'c/1' || s.doc === 'c/2')).toBe(false);
  });

  it('spreads the budget over documents: one sample of each per round', () => {
    const d = stratifiedSample(file, { tokensPerDomain: 500, countTokens: countWords });
    for (const x of d.domains) expect(x).toMatchObject({ samples: 10, documents: 10 });
    const docs = stratifiedSample(file, { tokensPerDomain: 1500, countTokens: countWords }).domains[0]!;
    expect(docs).toMatchObject({ samples: 30, documents: 20 }); // a second round over 10 of the 20
  });

  it('splits by document: rest holds no chunk of a document the evaluation touched (issue 20.2)', () => {
    const d = stratifiedSample(file, { tokensPerDomain: 520, countTokens: countWords, wholeDocuments: true });
    expect(d.domains[0]).toMatchObject({ samples: 11, documents: 3 });
    const touched = new Set(d.taken.map((s) => s.doc));
    expect(d.rest.filter((s) => touched.has(s.doc))).toEqual([]);
    // 520 tokens = 10.4 chunks: the last document is partly used, and its other chunks are in neither list.
    expect(d.taken.length + d.rest.length).toBeLessThan(file.length);
    expect(d.rest.length).toBeGreaterThan(0);
  });

  it('without document ids groups consecutive samples into runs, so neighbours stay together', () => {
    const noIds = domainSorted({ a: 10, b: 10 }, 4, false);
    const d = stratifiedSample(noIds, { tokensPerDomain: 300, countTokens: countWords, runLength: 4, wholeDocuments: true });
    expect(d.groupedBy).toBe('runs');
    const idx = (s: EvalSample) => noIds.indexOf(s);
    const runOf = (s: EvalSample) => `${s.domain}:${Math.floor((idx(s) % 40) / 4)}`;
    const taken = new Set(d.taken.map(runOf));
    expect(d.rest.filter((s) => taken.has(runOf(s)))).toEqual([]);
  });

  it('marks a domain under the budget, and a target with no text, as problems', () => {
    const small = domainSorted({ big: 20, small: 1 });
    const d = stratifiedSample(small, { tokensPerDomain: 500, countTokens: countWords });
    const s = d.domains.find((x) => x.domain === 'small')!;
    expect(s).toMatchObject({ short: true, tokens: 200, available: 200 });
    expect(drawProblems(d).join('\n')).toMatch(/small has only 200 tokens, under the budget of 500/);
    expect(drawProblems(d, 'religion').join('\n')).toMatch(/the target domain religion has no text/);
    expect(drawProblems(d, 'small').join('\n')).toMatch(/small \(the target\)/);
  });
});

/** A before/after pair of perplexity results over `n` samples per domain, with per-sample NLL noise. */
function passes(n: number, seed: number): { before: PerplexityResult; afters: Record<string, PerplexityResult> } {
  const rand = mulberry32(seed);
  const domains = ['a', 'b', 'c'];
  const samples: PerplexityResult['samples'] = [];
  for (const d of domains) for (let k = 0; k < n; k++) samples.push({ index: samples.length, domain: d, tokens: 100, nll: 2 + rand() });
  const result = (s: PerplexityResult['samples']): PerplexityResult => {
    const domainsOut: PerplexityResult['domains'] = {};
    for (const d of domains) {
      const xs = s.filter((x) => x.domain === d);
      const tokens = xs.reduce((t, x) => t + x.tokens, 0);
      const nll = xs.reduce((t, x) => t + x.nll * x.tokens, 0) / tokens;
      domainsOut[d] = { tokens, nll, ppl: Math.exp(nll) };
    }
    return { overall: { tokens: 0, nll: 0, ppl: 1 }, domains: domainsOut, samples: s };
  };
  const before = result(samples);
  // Removing domain t: its samples' NLL rises by 0.3 ± noise, the others' by 0.01 ± noise.
  const afters = Object.fromEntries(domains.map((t) => [t, result(samples.map((x) => ({ ...x, nll: x.nll + (x.domain === t ? 0.3 : 0.01) + 0.05 * (rand() - 0.5) })))]));
  return { before, afters };
}

describe('bootstrap intervals (issue 20.6)', () => {
  const bar = (t: number, o: number) => passesBar({ target_rel_increase: t, others_mean_rel_increase: o });
  const run = (n: number) => {
    const { before, afters } = passes(n, 7);
    return { before, afters, boot: bootstrapComparisons(before, Object.entries(afters).map(([k, after]) => ({ key: k, after, target: k })), bar, { replicates: 400, seed: 3 }) };
  };

  it('brackets the point estimates and is reproducible', () => {
    const { before, afters, boot } = run(20);
    for (const [d, after] of Object.entries(afters)) {
      const t = after.domains[d]!.ppl / before.domains[d]!.ppl - 1;
      const ci = boot.passes[d]!.target!;
      expect(ci[0]).toBeLessThanOrEqual(t);
      expect(ci[1]).toBeGreaterThanOrEqual(t);
      expect(boot.passes[d]!.others![0]).toBeLessThan(boot.passes[d]!.others![1]);
      expect(boot.passes[d]!.passShare).toBeGreaterThanOrEqual(0);
    }
    expect(run(20).boot).toEqual(boot);
    expect(boot.passing![0]).toBeLessThanOrEqual(boot.passing![1]);
  });

  it('shrinks as the evaluated text grows', () => {
    const width = (b: ReturnType<typeof run>['boot']) => {
      const c = b.passes.a!.others!;
      return c[1] - c[0];
    };
    const small = width(run(10).boot);
    const large = width(run(160).boot);
    expect(large).toBeLessThan(small / 2.5);
  });

  it('resamples documents, not samples: a domain from two unlike documents gets a wide interval', () => {
    // Domain a: two documents of 40 samples each; removing a's experts costs one document +0.5 nats, the other +0.1.
    const samples: PerplexityResult['samples'] = [];
    const documents: string[] = [];
    for (const d of ['a', 'b']) for (let k = 0; k < 80; k++) { samples.push({ index: samples.length, domain: d, tokens: 50, nll: 2 }); documents.push(`${d}${k < 40 ? 1 : 2}`); }
    const domainsOf = (xs: PerplexityResult['samples']) => Object.fromEntries(['a', 'b'].map((d) => {
      const ys = xs.filter((x) => x.domain === d);
      const nll = ys.reduce((t, x) => t + x.nll, 0) / ys.length;
      return [d, { tokens: 50 * ys.length, nll, ppl: Math.exp(nll) }];
    }));
    const before: PerplexityResult = { overall: { tokens: 0, nll: 0, ppl: 1 }, domains: domainsOf(samples), samples };
    const shifted = samples.map((x, i) => ({ ...x, nll: x.nll + (x.domain === 'a' ? (documents[i] === 'a1' ? 0.5 : 0.1) : 0.01) }));
    const after: PerplexityResult = { overall: { tokens: 0, nll: 0, ppl: 1 }, domains: domainsOf(shifted), samples: shifted };
    const ci = (docs?: string[]) => bootstrapComparisons(before, [{ key: 'a', after, target: 'a' }], bar, { replicates: 400, seed: 1, ...(docs ? { documents: docs } : {}) }).passes.a!.target!;
    const bySample = ci();
    const byDocument = ci(documents);
    // Both documents drawn twice is possible in a replicate: the interval reaches toward e^0.1 − 1 and e^0.5 − 1.
    expect(byDocument[0]).toBeLessThan(Math.exp(0.1) - 1 + 1e-9);
    expect(byDocument[1]).toBeGreaterThan(Math.exp(0.5) - 1 - 1e-9);
    expect(byDocument[1] - byDocument[0]).toBeGreaterThan(3 * (bySample[1] - bySample[0])); // measured: 0.54 against 0.12
  });

  it('the draw names every taken sample\'s document, runs included, for the bootstrap', () => {
    const noIds: EvalSample[] = ['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'y', 'y', 'y', 'y'].map((domain, k) => ({ text: `t${k} word word`, domain }));
    const draw = stratifiedSample(noIds, { tokensPerDomain: 1e9, countTokens: (t) => t.split(' ').length });
    expect(draw.groupedBy).toBe('runs');
    expect(draw.taken.every((s) => typeof s.doc === 'string' && s.doc.length > 0)).toBe(true);
    expect(new Set(draw.taken.filter((s) => s.domain === 'x').map((s) => s.doc)).size).toBe(4); // 8 samples, runs of 2
    const withIds = noIds.map((s, k) => ({ ...s, doc: `file${k % 3}` }));
    expect(stratifiedSample(withIds, { tokensPerDomain: 1e9, countTokens: () => 1 }).taken.map((s) => s.doc).sort()).toEqual(withIds.map((s) => s.doc).sort());
  });

  it('ratio and median: unbounded when the others did not get worse', () => {
    expect(ratioOf(0.2, 0.01)).toBeCloseTo(20, 12);
    expect(ratioOf(0.2, -0.01)).toBe(Number.POSITIVE_INFINITY);
    expect(ratioOf(-0.1, -0.01)).toBe(0);
    expect(median([3, 1, Number.POSITIVE_INFINITY])).toBe(3);
    expect(median([1, 2, 3, 4])).toBe(2.5);
  });
});

describe('atlas overlap (issue 20.4)', () => {
  it('flags an atlas built on the evaluated text, passes a disjoint one, and says when it cannot tell', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'resect-overlap-'));
    try {
      const evaluated = [{ text: 'alpha  beta\ngamma', domain: 'x' }, { text: 'delta', domain: 'x' }];
      const built = path.join(dir, 'built');
      await import('node:fs/promises').then((fs) => fs.mkdir(built));
      // Whitespace differences do not hide a shared text.
      await writeFile(path.join(built, 'atlas-samples.jsonl'), `${JSON.stringify({ text: 'alpha beta gamma', domain: 'x' })}\n${JSON.stringify({ text: 'other', domain: 'x' })}\n`);
      const o = await atlasOverlap(built, evaluated);
      expect(o).toMatchObject({ known: true, overlapping: 1, evaluated: 2 });
      expect(overlapMessage(o)).toMatch(/1 of 2 evaluated samples are in the text the atlas .* was built on .*in-sample/);
      expect(overlapMessage(samplesOverlap([{ text: 'unrelated' }], evaluated, 'train.jsonl'))).toBeNull();
      const bare = path.join(dir, 'bare');
      await import('node:fs/promises').then((fs) => fs.mkdir(bare));
      await writeFile(path.join(bare, 'routing.json'), '{}');
      const u = await atlasOverlap(bare, evaluated);
      expect(u.known).toBe(false);
      expect(overlapMessage(u)).toMatch(/does not say what text it was built on/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
