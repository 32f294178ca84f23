/** The skew rule and Pearson-from-sums against brute force on small arrays; mask composition. */
import { describe, expect, it } from 'vitest';
import { pearsonAll, pearsonFromSums, pearsonOrNull, pearsonTwoPass, skewAssign } from '../../workers/analysis/resection/stats';
import { composeMasks, isRowColumnOnly, maskSize } from '../../workers/analysis/resection/compose';
import { selectByDomain, selectByScore } from '../../workers/analysis/resection/select';
import { closestDomains, routingSimilarity } from '../../workers/analysis/resection/similarity';
import { RoutingTables } from '../../workers/analysis/resection/routing';
import { mulberry32 } from '../../workers/engine';

/** Brute force: sort each expert's domain values, compare the top with ratio × the second. */
function bruteSkew(means: number[][], ratio: number, floor: number): number[] {
  const N = means[0]!.length;
  return Array.from({ length: N }, (_, e) => {
    const vals = means.map((m, d) => ({ d, v: m[e]! })).sort((a, b) => b.v - a.v || a.d - b.d);
    const [a, b] = [vals[0]!, vals[1] ?? { d: -1, v: 0 }];
    if (a.v <= 0 || a.v < floor) return -1;
    if (a.v === b.v) return -1;
    return a.v >= ratio * b.v ? a.d : -1;
  });
}

describe('skew rule', () => {
  it('matches brute force on random sparse means, for several ratios and floors', () => {
    const rand = mulberry32(7);
    for (let trial = 0; trial < 50; trial++) {
      const D = 1 + Math.floor(rand() * 5);
      const N = 40;
      const means = Array.from({ length: D }, () => Array.from({ length: N }, () => (rand() < 0.4 ? 0 : rand() * 0.1)));
      for (const ratio of [1.5, 2, 3]) {
        for (const floor of [0, 0.03]) {
          const r = skewAssign(means, { ratio, minMass: floor });
          expect(Array.from(r.domain)).toEqual(bruteSkew(means, ratio, floor));
        }
      }
    }
  });

  it('handles the edges: exactly 2×, one-domain experts (passes unless a floor), never-routed, ties', () => {
    const r = skewAssign([[0.2, 0.1, 0, 0.05, 0.01], [0.1, 0, 0, 0.05, 0]], { ratio: 2 });
    expect(Array.from(r.domain)).toEqual([0, 0, -1, -1, 0]);
    expect(r.skew[1]).toBe(Infinity);
    expect(Array.from(skewAssign([[0.2, 0.1, 0, 0.05, 0.01], [0.1, 0, 0, 0.05, 0]], { ratio: 2, minMass: 0.05 }).domain)).toEqual([0, 0, -1, -1, -1]);
    expect(() => skewAssign([[1]], { ratio: 0.5 })).toThrow(/ratio/);
  });
});

describe('Pearson from streamed sums', () => {
  const sums = (x: number[], y: number[]) => {
    let sx = 0, sy = 0, sxy = 0, sxx = 0, syy = 0;
    for (let t = 0; t < x.length; t++) { sx += x[t]!; sy += y[t]!; sxy += x[t]! * y[t]!; sxx += x[t]! ** 2; syy += y[t]! ** 2; }
    return { n: x.length, sx, sy, sxy, sxx, syy };
  };

  it('equals the two-pass correlation on random sparse routing scores', () => {
    const rand = mulberry32(3);
    for (let trial = 0; trial < 100; trial++) {
      const n = 5 + Math.floor(rand() * 200);
      const y = Array.from({ length: n }, () => rand());
      const x = y.map((v) => (rand() < 0.7 ? 0 : rand() * 2 + v * (trial % 3)));
      const s = sums(x, y);
      expect(pearsonFromSums(s.n, s.sx, s.sy, s.sxy, s.sxx, s.syy)).toBeCloseTo(pearsonTwoPass(x, y), 10);
    }
  });

  it('browse-time r (pearsonOrNull, the atlas reader) uses the same epsilon: round-off variance is no variance (issue 20.8)', () => {
    const rand = mulberry32(9);
    const y = Array.from({ length: 1000 }, () => rand());
    const c = sums(new Array(1000).fill(0.1), y); // constant x whose uncentred sums leave round-off
    expect(c.n * c.sxx - c.sx * c.sx).toBeGreaterThan(0); // the reader's old test let this through as variance
    expect(pearsonOrNull(c.n, c.sx, c.sy, c.sxy, c.sxx, c.syy)).toBeNull();
    expect(pearsonFromSums(c.n, c.sx, c.sy, c.sxy, c.sxx, c.syy)).toBe(0);
    const x = y.map((v) => (rand() < 0.5 ? 0 : v + rand()));
    const s = sums(x, y);
    expect(pearsonOrNull(s.n, s.sx, s.sy, s.sxy, s.sxx, s.syy)).toBe(pearsonFromSums(s.n, s.sx, s.sy, s.sxy, s.sxx, s.syy));
  });

  it('stays accurate with a large offset (centred forms in float64) and guards zero variance', () => {
    const rand = mulberry32(5);
    const n = 1000;
    const y = Array.from({ length: n }, () => rand());
    const x = y.map((v) => 1000 + v + 0.5 * rand());
    const s = sums(x, y);
    expect(Math.abs(pearsonFromSums(s.n, s.sx, s.sy, s.sxy, s.sxx, s.syy) - pearsonTwoPass(x, y))).toBeLessThan(1e-6);
    const c = sums(new Array(n).fill(0.25), y);
    expect(pearsonFromSums(c.n, c.sx, c.sy, c.sxy, c.sxx, c.syy)).toBe(0); // constant x
    const z = sums(new Array(n).fill(0), y);
    expect(pearsonFromSums(z.n, z.sx, z.sy, z.sxy, z.sxx, z.syy)).toBe(0); // never routed
    expect(pearsonFromSums(1, 1, 1, 1, 1, 1)).toBe(0);
    const perfect = sums([1, 2, 3, 4], [2, 4, 6, 8]);
    expect(pearsonFromSums(perfect.n, perfect.sx, perfect.sy, perfect.sxy, perfect.sxx, perfect.syy)).toBeCloseTo(1, 12);
  });

  it('vectorises over experts', () => {
    const r = pearsonAll({ n: 4, sy: 20, syy: 120, sx: [10, 0], sxy: [60, 0], sxx: [30, 0] });
    expect(r[0]).toBeCloseTo(1, 12);
    expect(r[1]).toBe(0);
  });
});

describe('selection and composition', () => {
  const cfg = { num_hidden_layers: 4, moe_experts: 2, moe_groups: 2 };
  function tables() {
    const t = new RoutingTables(2, 4, 2, [], ['tox']);
    const a = t.domainIndex('code');
    const b = t.domainIndex('prose');
    t.domainTokens = [10, 10];
    t.sums[0]![a]!.set([5, 1, 1, 0]);
    t.sums[0]![b]!.set([1, 1, 3, 2]);
    t.sums[1]![a]!.set([0, 4, 1, 1]);
    t.sums[1]![b]!.set([0, 1, 1, 1]);
    const acc = t.scores[0]!.get('tox')!;
    Object.assign(acc, { n: 4, sy: 20, syy: 120 });
    acc.sx.set([10, 0, 10, 0]); acc.sxy.set([60, 0, 40, 0]); acc.sxx.set([30, 0, 30, 0]);
    return t;
  }

  it('counts per domain and group, lists a domain\'s experts and masks them per group or layer', () => {
    const s = selectByDomain(tables(), { kind: 'domain', domain: 'code' });
    expect(s.counts).toEqual({ domains: ['code', 'prose'], table: [[1, 1], [2, 0]], totals: [2, 2] });
    expect(s.experts.map((e) => [e.group, e.id])).toEqual([[0, 0], [1, 1]]);
    expect(s.mask).toEqual({ groups: { 0: [0], 1: [1] } });
    // Routing mass the removal takes from each domain, per group: Σ chosen / Σ all of the domain's sums.
    expect(s.massShare.domains).toEqual(['code', 'prose']);
    const share = s.massShare.table;
    [[5 / 7, 4 / 6], [1 / 7, 1 / 3]].forEach((row, d) => row.forEach((v, g) => expect(share[d]![g]).toBeCloseTo(v, 12)));
    expect(selectByDomain(tables(), { kind: 'domain' }).massShare.table).toEqual([[0, 0], [0, 0]]);
    const l = selectByDomain(tables(), { kind: 'domain', domain: 'code', scope: 'layer', layer: 3 });
    expect(l.mask).toEqual({ layers: { 3: [1] } });
    expect(() => selectByDomain(tables(), { kind: 'domain', domain: 'nope' })).toThrow(/unknown domain/);
  });

  it('measures how alike domains are routed: cosine of their mean routing vectors per group', () => {
    const sim = routingSimilarity(tables());
    expect(sim.domains).toEqual(['code', 'prose']);
    const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0) / Math.hypot(...a) / Math.hypot(...b);
    // Sums over 10 tokens each: the means' cosine equals the sums' cosine.
    const g0 = cos([5, 1, 1, 0], [1, 1, 3, 2]);
    const g1 = cos([0, 4, 1, 1], [0, 1, 1, 1]);
    expect(sim.groups).toHaveLength(2);
    expect(sim.groups[0]![0]![1]).toBeCloseTo(g0, 12);
    expect(sim.groups[0]![1]![0]).toBeCloseTo(g0, 12);
    expect(sim.groups[1]![0]![1]).toBeCloseTo(g1, 12);
    for (const t of sim.groups) t.forEach((row, d) => expect(row[d]).toBeCloseTo(1, 12));
    // A domain with no tokens is similar to nothing.
    const t = tables();
    t.domainIndex('empty');
    t.domainTokens = [10, 10, 0];
    expect(routingSimilarity(t).groups[0]![2]).toEqual([0, 0, 0]);
  });

  it('names each domain\'s closest domain by the mean cosine over groups, never itself', () => {
    const sim = {
      domains: ['c', 'news', 'science'],
      groups: [
        [[1, 0.4, 0.3], [0.4, 1, 0.9], [0.3, 0.9, 1]],
        [[1, 0.8, 0.2], [0.8, 1, 0.7], [0.2, 0.7, 1]],
      ],
    };
    // news: science 0.9 / 0.7 (mean 0.8) against c 0.4 / 0.8 (mean 0.6); c: news 0.4 / 0.8 (0.6) against science 0.25.
    // Group 2 alone would name c for news (0.8 against 0.7); the mean over groups names science.
    const closest = closestDomains(sim);
    expect(closest[1]).toEqual({ domain: 'science', cosine: expect.closeTo(0.8, 12) });
    expect(closest[0]).toEqual({ domain: 'news', cosine: expect.closeTo(0.6, 12) });
    expect(closestDomains({ domains: ['c'], groups: [[[1]]] })).toEqual([null]);
    expect(closestDomains({ domains: ['c', 'news'], groups: [] })).toEqual([null, null]);
    // routingSimilarity carries it.
    const r = routingSimilarity(tables());
    expect(r.closest).toEqual(closestDomains(r));
    expect(r.closest.map((c) => c?.domain)).toEqual(['prose', 'code']);
  });

  it('selects by correlation above τ', () => {
    const s = selectByScore(tables(), { kind: 'score', score: 'tox', tau: 0.2 });
    expect(s.experts.map((e) => e.id)).toEqual([0]);
    expect(s.mask).toEqual({ groups: { 0: [0] } });
  });

  it('composes removals as a union, restores subtract, groups expand to layers', () => {
    const m = composeMasks(cfg, [
      { kind: 'remove', mask: { groups: { 0: [1, 2] } } },
      { kind: 'remove', mask: { layers: { 3: [0] }, columns: { 2: [1] } } },
      { kind: 'restore', mask: { layers: { 1: [2] } } },
    ]);
    expect(m).toEqual({ layers: { 0: [1, 2], 1: [1], 3: [0] }, columns: { 2: [1] } });
    expect(maskSize(cfg, m)).toBe(4 + 2);
    expect(isRowColumnOnly(m)).toBe(false);
    expect(isRowColumnOnly({ columns: { 0: [1] } })).toBe(true);
  });
});
