/**
 * Percentile bootstrap over evaluation samples (issue 20.6): how far ΔTarget, ΔOthers and their ratio would move on
 * another draw of the same amount of text. Each replicate resamples every domain's evaluated samples with replacement
 * (as many as it has), and the same resample is scored before and after every mask (the comparison is paired), so a
 * replicate gives each domain's relative perplexity increase, and from them ΔTarget, mean ΔOthers, the ratio, whether
 * the bar is cleared, and across targets the median ratio and the number that pass.
 *
 * Samples of one source document are correlated, so the unit resampled is the document: with `documents` (the
 * document of each evaluated sample, as the stratified draw records it) a replicate draws each domain's documents with
 * replacement and takes all their evaluated samples; a sample without a document is a document of its own. A domain
 * drawn from two documents gets the wide interval it deserves.
 */
import { mulberry32 } from '../../engine/random';
import type { PerplexityResult } from '../../models/monet/perplexity';
import type { RatioInterval } from './schema';

export type Interval = [number, number];

export interface BootstrapOptions {
  /** Replicates (default 1000). */
  replicates?: number;
  seed?: number;
  /** Coverage of the intervals (default 0.95). */
  level?: number;
  /** The document of each evaluated sample (by sample index); null or absent: each sample its own document. */
  documents?: readonly (string | null | undefined)[];
}

/** One masked pass and the domain it targets (null: no target, as in the Evaluate panel without one). */
export interface MaskedPass { key: string; after: PerplexityResult; target: string | null }

export interface PassIntervals {
  /** Each domain's relative perplexity increase. */
  domains: Record<string, Interval>;
  target: Interval | null;
  others: Interval | null;
  /** ΔTarget / ΔOthers; an end is null when it is unbounded (ΔOthers ≤ 0 in that share of replicates). */
  ratio: RatioInterval | null;
  /** Share of replicates in which the pass clears the bar (null without a target). */
  passShare: number | null;
}

export interface BootstrapResult {
  replicates: number;
  level: number;
  passes: Record<string, PassIntervals>;
  /** Over the passes with a target: the median ratio, and the number that clear the bar. */
  medianRatio: RatioInterval | null;
  passing: Interval | null;
}

/** The document of each sample (`doc`, set by the stratified draw), for `documents`. */
export function documentsOf(samples: readonly object[]): (string | null)[] {
  return samples.map((s) => {
    const doc = (s as { doc?: unknown }).doc;
    return typeof doc === 'string' && doc !== '' ? doc : null;
  });
}

/** Ratio of one row: ΔTarget / ΔOthers, +∞ when the others did not get worse but the target did. */
export function ratioOf(target: number, others: number): number {
  return others > 0 ? target / others : target > 0 ? Number.POSITIVE_INFINITY : 0;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  if (s.length === 0) return Number.NaN;
  if (s.length % 2) return s[m]!;
  const a = s[m - 1]!;
  const b = s[m]!;
  return a === b ? a : (a + b) / 2;
}

/** Nearest-rank percentile interval (no interpolation, so an infinite end stays infinite instead of NaN). */
function interval(xs: Float64Array, level: number): Interval {
  const s = Float64Array.from(xs).sort();
  const a = (1 - level) / 2;
  const n = s.length;
  return [s[Math.max(0, Math.floor(a * (n - 1)))]!, s[Math.min(n - 1, Math.ceil((1 - a) * (n - 1)))]!];
}
const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);
const ratioInterval = (xs: Float64Array, level: number): RatioInterval => {
  const [lo, hi] = interval(xs, level);
  return [finiteOrNull(lo), finiteOrNull(hi)];
};

/**
 * Intervals for masked passes against one unmasked pass over the same samples. `passes(t, o)` is the bar
 * (passesBar of experiment.ts), given so that the bootstrap counts exactly what the table reports.
 */
export function bootstrapComparisons(
  before: PerplexityResult, passes: readonly MaskedPass[], passesBar: (target: number, others: number) => boolean, o: BootstrapOptions = {},
): BootstrapResult {
  const B = Math.max(1, o.replicates ?? 1000);
  const level = o.level ?? 0.95;
  const rand = mulberry32(o.seed ?? 0);
  const domains = Object.keys(before.domains).sort();
  const dIndex = new Map(domains.map((d, k) => [d, k]));
  const byDomain: number[][] = domains.map(() => []);
  for (const s of before.samples) if (s.tokens > 0) byDomain[dIndex.get(s.domain)!]!.push(s.index);
  // Per domain, its documents: each the sample indices it holds.
  const clusters: number[][][] = byDomain.map((idx) => {
    const docs = new Map<string, number[]>();
    for (const i of idx) {
      const doc = o.documents?.[i];
      const key = doc === null || doc === undefined ? `\u0000sample ${i}` : doc;
      let l = docs.get(key);
      if (!l) docs.set(key, (l = []));
      l.push(i);
    }
    return [...docs.values()];
  });
  const N = before.samples.length;
  // Per sample: tokens and the NLL sum, before and after each pass.
  const tok = Float64Array.from(before.samples, (s) => s.tokens);
  const sumOf = (r: PerplexityResult) => Float64Array.from(r.samples, (s) => s.nll * s.tokens);
  const sBefore = sumOf(before);
  const sAfter = passes.map((p) => {
    if (p.after.samples.length !== N) throw new Error('bootstrap: the masked pass scored other samples than the unmasked one');
    return sumOf(p.after);
  });
  const D = domains.length;
  const P = passes.length;
  const rel = passes.map(() => domains.map(() => new Float64Array(B)));
  const tgt = passes.map(() => new Float64Array(B));
  const oth = passes.map(() => new Float64Array(B));
  const rat = passes.map(() => new Float64Array(B));
  const pass = passes.map(() => 0);
  const med = new Float64Array(B);
  const npass = new Float64Array(B);
  const withTarget = passes.map((p, k) => (p.target !== null && dIndex.has(p.target) ? k : -1)).filter((k) => k >= 0);
  const w = new Float64Array(N);
  const tokD = new Float64Array(D);
  const beforeD = new Float64Array(D);
  const afterD = new Float64Array(P * D);
  for (let b = 0; b < B; b++) {
    w.fill(0);
    for (const docs of clusters) {
      for (let k = 0; k < docs.length; k++) for (const i of docs[Math.floor(rand() * docs.length)]!) w[i]! += 1;
    }
    tokD.fill(0); beforeD.fill(0); afterD.fill(0);
    for (let d = 0; d < D; d++) {
      for (const i of byDomain[d]!) {
        const wi = w[i]!;
        if (!wi) continue;
        tokD[d] = tokD[d]! + wi * tok[i]!;
        beforeD[d] = beforeD[d]! + wi * sBefore[i]!;
        for (let p = 0; p < P; p++) afterD[p * D + d] = afterD[p * D + d]! + wi * sAfter[p]![i]!;
      }
    }
    const ratios: number[] = [];
    let passed = 0;
    for (let p = 0; p < P; p++) {
      const t = passes[p]!.target;
      let sumOthers = 0;
      let nOthers = 0;
      let tr = 0;
      for (let d = 0; d < D; d++) {
        const r = tokD[d]! > 0 ? Math.exp((afterD[p * D + d]! - beforeD[d]!) / tokD[d]!) - 1 : 0;
        rel[p]![d]![b] = r;
        if (domains[d] === t) tr = r;
        else { sumOthers += r; nOthers++; }
      }
      const om = nOthers ? sumOthers / nOthers : 0;
      tgt[p]![b] = tr;
      oth[p]![b] = om;
      rat[p]![b] = ratioOf(tr, om);
      if (withTarget.includes(p)) {
        ratios.push(rat[p]![b]!);
        if (passesBar(tr, om)) { passed++; pass[p]!++; }
      }
    }
    med[b] = ratios.length ? median(ratios) : 0;
    npass[b] = passed;
  }
  const out: Record<string, PassIntervals> = {};
  passes.forEach((p, k) => {
    const has = withTarget.includes(k);
    out[p.key] = {
      domains: Object.fromEntries(domains.map((d, j) => [d, interval(rel[k]![j]!, level)])),
      target: has ? interval(tgt[k]!, level) : null,
      others: interval(oth[k]!, level),
      ratio: has ? ratioInterval(rat[k]!, level) : null,
      passShare: has ? pass[k]! / B : null,
    };
  });
  return {
    replicates: B, level, passes: out,
    medianRatio: withTarget.length ? ratioInterval(med, level) : null,
    passing: withTarget.length ? interval(npass, level) : null,
  };
}
