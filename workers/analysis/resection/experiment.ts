/**
 * The paper's domain-masking experiment (spec §5.1) on any Monet model and labelled corpus: routing statistics →
 * skew-rule selection per domain → mask → per-domain perplexity after removing each domain's experts, against the
 * unmasked model. Perplexity stands in for MMLU accuracy, so the table reads as relative perplexity *increases*.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseMaskJson } from '../../models/monet/mask';
import type { MonetModel } from '../../models/monet/model';
import { domainLabel, fieldOf, readJsonlRows, requireText } from '../../data/jsonl';
import { perplexity, type PerplexityResult, type Sample } from '../../models/monet/perplexity';
import type { EvalSample } from './sampling';
import type { TextTokenizer } from '../../tokenizer';
import { bootstrapComparisons, documentsOf, median, ratioOf, type BootstrapOptions, type BootstrapResult } from './bootstrap';
import { comparePerplexity, type PerplexityComparison } from './evaluate';
import type { RoutingStats } from './routing';
import { selectByDomain, type Scope, type Selection } from './select';
import { mostAffectedOther, type DomainMaskingRow, type DomainMaskingSummary } from './schema';

export { mostAffectedOther, type DomainMaskingRow, type DomainMaskingSummary };

/** One setting of the selection rule. */
export interface DomainMaskingConfig {
  ratio: number;
  minMass: number;
  scope: Scope;
  /** Scope 'layer': the one layer the experts are removed from. */
  layer?: number | null;
}

export interface DomainMaskingResult {
  domains: Record<string, DomainMaskingRow>;
  /** Experts per domain and group (Tables 9–10 shape). */
  counts: NonNullable<Selection['counts']>;
  source: string;
  ratio: number;
  minMass: number;
  scope: Scope;
  layer: number | null;
  comparisons: Record<string, PerplexityComparison>;
  /** Intervals over the evaluated samples (rows carry theirs in `ci`). */
  bootstrap: BootstrapResult & { seed: number };
}

export interface DomainMaskingOptions {
  ratio?: number;
  minMass?: number;
  scope?: Scope;
  layer?: number | null;
  /**
   * Routing statistics to select experts from (an atlas, or `collectRoutingStats`), built on text the evaluation does
   * not score. Required: selecting on the evaluated samples themselves would give an in-sample result.
   */
  stats: RoutingStats;
  /** Bootstrap of the intervals (default 1000 replicates, seed 0, 95 %). */
  bootstrap?: BootstrapOptions;
  /** Remove only these domains' experts (default: every domain); ΔOthers still averages over all other domains. */
  targets?: readonly string[];
  context?: number;
  onProgress?: (done: number, total: number, what: string) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** The selectivity bar of issue 8: ΔTarget ≥ 10 × mean ΔOthers. */
export const SELECTIVITY_BAR = 10;

export function selectivity(target: number, others: number): number | null {
  return others > 0 ? target / others : null;
}

/**
 * Smallest ΔTarget that counts: below 1 % the removal shows nothing measurable on a few thousand tokens, and a ratio
 * over a ΔOthers near zero (or negative, from noise) would be meaningless.
 */
export const MIN_TARGET_INCREASE = 0.01;

/** Whether a row clears the bar: ΔTarget ≥ 1 % and ΔTarget ≥ bar × max(ΔOthers, 0). */
export function passesBar(r: Pick<DomainMaskingRow, 'target_rel_increase' | 'others_mean_rel_increase'>, bar = SELECTIVITY_BAR): boolean {
  return r.target_rel_increase >= MIN_TARGET_INCREASE && r.target_rel_increase >= bar * Math.max(r.others_mean_rel_increase, 0);
}

const domainOf = (s: Sample) => String(s.domain ?? 'default');

/**
 * `perDomain` samples of each domain (all when undefined; 'half': ⌈n/2⌉ of a domain's n), spread evenly over the
 * domain's samples in input order (sample ⌊k·n/m⌋ for k < m) — corpora are often chunked documents in order, and
 * the first m would be chunks of one or two documents — each text cut to `maxChars` characters from its middle when
 * given (the head of a code file is often a licence or comment block). `rest` holds the samples not taken (uncut): the
 * disjoint split an atlas can be built on.
 */
/** The sample with its text cut to its middle `maxChars` characters (unchanged when shorter or without a limit). */
export function middleChars<T extends Sample>(s: T, maxChars?: number): T {
  if (maxChars === undefined || s.text.length <= maxChars) return s;
  const start = Math.floor((s.text.length - maxChars) / 2);
  return { ...s, text: s.text.slice(start, start + maxChars) };
}

export function splitPerDomain<T extends Sample>(samples: readonly T[], perDomain?: number | 'half', maxChars?: number): { taken: T[]; rest: T[] } {
  const byDomain = new Map<string, number[]>();
  samples.forEach((s, k) => {
    const d = domainOf(s);
    let l = byDomain.get(d);
    if (!l) byDomain.set(d, (l = []));
    l.push(k);
  });
  const chosen = new Set<number>();
  for (const idx of byDomain.values()) {
    const n = idx.length;
    const m = Math.min(n, perDomain === undefined ? n : perDomain === 'half' ? Math.ceil(n / 2) : perDomain);
    for (let k = 0; k < m; k++) chosen.add(idx[Math.floor((k * n) / m)]!);
  }
  const cut = (s: T): T => middleChars(s, maxChars);
  const taken: T[] = [];
  const rest: T[] = [];
  samples.forEach((s, k) => (chosen.has(k) ? taken.push(cut(s)) : rest.push(s)));
  return { taken, rest };
}

export async function domainMasking(model: MonetModel, tokenizer: TextTokenizer, samples: readonly Sample[], o: DomainMaskingOptions): Promise<DomainMaskingResult> {
  const config: DomainMaskingConfig = { ratio: o.ratio ?? 2, minMass: o.minMass ?? 0, scope: o.scope ?? 'group', layer: o.layer ?? null };
  const [r] = await domainMaskingGrid(model, tokenizer, samples, [config], o);
  return r!;
}

/**
 * The experiment for several selection settings on the same statistics and evaluation samples: the unmasked
 * perplexity is computed once, and a mask that two settings share is evaluated once.
 */
export async function domainMaskingGrid(
  model: MonetModel, tokenizer: TextTokenizer, samples: readonly Sample[], configs: readonly DomainMaskingConfig[],
  o: Omit<DomainMaskingOptions, 'ratio' | 'minMass' | 'scope' | 'layer'>,
): Promise<DomainMaskingResult[]> {
  const common = { signal: o.signal, ...(o.context ? { context: o.context } : {}) };
  const stats = o.stats;
  const domains = [...new Set(samples.map(domainOf))].sort().filter((d) => !o.targets || o.targets.includes(d));
  o.log?.(`routing statistics from ${stats.source}: ${stats.domains.length} domains, ${stats.groups} groups`);
  const total = domains.length * configs.length + 1;
  const before = await perplexity(model, tokenizer, samples, common);
  let done = 1;
  o.onProgress?.(done, total, 'perplexity before');
  o.log?.(`perplexity before removal: ${samples.length} samples; then ${total - 1} masked passes at most`);
  const cache = new Map<string, PerplexityResult>();
  const results: DomainMaskingResult[] = [];
  for (const c of configs) {
    const rule = { kind: 'domain' as const, ratio: c.ratio, minMass: c.minMass, scope: c.scope, layer: c.layer ?? null };
    const all = selectByDomain(stats, rule);
    const rows: Record<string, DomainMaskingRow> = {};
    const comparisons: Record<string, PerplexityComparison> = {};
    const afters: Record<string, PerplexityResult> = {};
    const tag = `r=${c.ratio} floor=${c.minMass} ${c.scope}${c.scope === 'layer' ? ` ${c.layer}` : ''}`;
    for (const d of domains) {
      o.signal?.throwIfAborted();
      const sel = stats.domains.includes(d) ? selectByDomain(stats, { ...rule, domain: d }) : null;
      const experts = sel?.experts.length ?? 0;
      let after = before;
      if (experts > 0) {
        const key = JSON.stringify(sel!.mask);
        let hit = cache.get(key);
        if (!hit) cache.set(key, (hit = await perplexity(model, tokenizer, samples, { ...common, masks: parseMaskJson(model.config, sel!.mask, 'mask') })));
        after = hit;
      }
      afters[d] = after;
      const cmp = comparePerplexity(before, after, d);
      comparisons[d] = cmp;
      const row = cmp.rows.find((x) => x.domain === d)!;
      const t = cmp.targetRelIncrease ?? 0;
      const oth = cmp.othersMeanRelIncrease ?? 0;
      const others = Object.fromEntries(cmp.rows.filter((x) => x.domain !== d).map((x) => [x.domain, x.relIncrease]));
      rows[d] = { experts_removed: experts, tokens: row.tokens, ppl_before: row.pplBefore, ppl_after: row.pplAfter, target_rel_increase: t, others_mean_rel_increase: oth, others_rel_increase: others, selectivity: selectivity(t, oth) };
      done++;
      o.log?.(`[${done}/${total}] ${tag} ${d}: ${experts} experts, ppl ${row.pplBefore.toFixed(3)} → ${row.pplAfter.toFixed(3)}, ΔTarget ${(t * 100).toFixed(2)}%, ΔOthers ${(oth * 100).toFixed(2)}%`);
      o.onProgress?.(done, total, `${tag} ${d}`);
    }
    const seed = o.bootstrap?.seed ?? 0;
    const boot = bootstrapComparisons(before, domains.map((d) => ({ key: d, after: afters[d]!, target: d })), (t, x) => passesBar({ target_rel_increase: t, others_mean_rel_increase: x }), { ...o.bootstrap, seed, documents: documentsOf(samples) });
    for (const d of domains) {
      const b = boot.passes[d]!;
      rows[d]!.ci = { target_rel_increase: b.target!, others_mean_rel_increase: b.others!, selectivity: b.ratio!, pass_share: b.passShare! };
    }
    results.push({ domains: rows, counts: all.counts!, source: stats.source, ratio: c.ratio, minMass: c.minMass, scope: c.scope, layer: c.layer ?? null, comparisons, bootstrap: { ...boot, seed } });
  }
  return results;
}

/**
 * Builds the atlas an experiment selects from: routing statistics of `samples` (no top contexts), written into `dir`
 * with the samples themselves beside it as atlas-samples.jsonl, so the atlas says what it was built on.
 */
export async function buildSelectionAtlas(o: {
  model: MonetModel;
  tokenizer: TextTokenizer;
  modelDir: string;
  samples: readonly Sample[];
  dir: string;
  context?: number;
  signal?: AbortSignal;
  onProgress?: (p: { tokens: number; samples: number; tokensPerSecond: number }) => void;
}): Promise<void> {
  const { buildAtlas } = await import('../atlas/build');
  await mkdir(o.dir, { recursive: true });
  const jsonl = path.join(o.dir, 'atlas-samples.jsonl');
  await writeFile(jsonl, o.samples.map((s) => JSON.stringify({ text: s.text, domain: s.domain ?? null })).join('\n') + '\n');
  await buildAtlas({
    model: o.model, tokenizer: o.tokenizer, modelDir: o.modelDir, outDir: o.dir, checkpointEvery: 0, topK: 0,
    source: { data: { kind: 'jsonl', path: jsonl, textField: 'text' }, filter: {}, domainField: 'domain' },
    ...(o.context ? { context: o.context } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
}

/**
 * Labelled samples from a JSONL file, gzipped when its name ends in .gz (the shipped training corpus), with the
 * document each was cut from when the rows have `docField` (the shipped held-out file's `source`).
 */
export async function readLabelledJsonl(file: string, textField = 'text', domainField = 'domain', docField = 'source'): Promise<EvalSample[]> {
  const out: EvalSample[] = [];
  for await (const { row, line } of readJsonlRows(file)) {
    const doc = fieldOf(row, docField);
    out.push({ text: requireText(fieldOf(row, textField), file, line, textField), domain: domainLabel(fieldOf(row, domainField)), ...(doc !== undefined && doc !== null ? { doc: String(doc) } : {}) });
  }
  return out;
}

/**
 * Per domain (how many clear the bar, the median ratio, with their bootstrap intervals when `boot` is given) and over
 * domains (mean ΔTarget against mean ΔOthers, the aggregate of the paper's Table 11, dominated by the largest ΔTarget).
 */
export function summarizeDomainMasking(domains: Record<string, DomainMaskingRow>, bar = SELECTIVITY_BAR, boot?: DomainMaskingResult['bootstrap']): DomainMaskingSummary {
  const rows = Object.values(domains);
  const mean = (f: (x: DomainMaskingRow) => number) => (rows.length ? rows.reduce((s, x) => s + f(x), 0) / rows.length : 0);
  const t = mean((x) => x.target_rel_increase);
  const o = mean((x) => x.others_mean_rel_increase);
  const med = rows.length ? median(rows.map((x) => ratioOf(x.target_rel_increase, x.others_mean_rel_increase))) : Number.NaN;
  return {
    passing: Object.keys(domains).filter((d) => passesBar(domains[d]!, bar)), mean_target_rel_increase: t, mean_others_rel_increase: o, mean_selectivity: selectivity(t, o),
    median_selectivity: Number.isFinite(med) ? med : null,
    ...(boot?.medianRatio ? { median_selectivity_ci: boot.medianRatio } : {}),
    ...(boot?.passing ? { passing_ci: boot.passing } : {}),
    ...(boot ? { bootstrap: { replicates: boot.replicates, level: boot.level, seed: boot.seed } } : {}),
  };
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
const pct1 = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}`;
const times = (x: number | null) => (x === null ? '∞' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
/** An interval as text: "[+1.2, +3.4]" (percent) or "[4.1, ∞]" (ratio). */
export const fmtPctInterval = (c: readonly [number, number]) => `[${pct1(c[0])}, ${pct1(c[1])}]`;
export const fmtRatioInterval = (c: readonly [number | null, number | null]) => `[${times(c[0])}, ${times(c[1])}]`;

/** The experiment as a text table (one row per domain with its 95 % intervals, the median and the mean last). */
export function formatDomainMasking(r: DomainMaskingResult): string {
  const fmtSel = (x: DomainMaskingRow) => (x.selectivity !== null ? `${x.selectivity.toFixed(1)}×` : x.target_rel_increase > 0 ? '∞' : '—');
  const lines = [`${'domain'.padEnd(12)} ${'experts'.padStart(7)} ${'tokens'.padStart(7)} ${'ppl before'.padStart(10)} ${'ppl after'.padStart(10)} ${'ΔTarget'.padStart(9)} ${'95% CI'.padStart(16)} ${'ΔOthers'.padStart(8)} ${'95% CI'.padStart(14)} ${'ratio'.padStart(7)} ${'95% CI'.padStart(13)} ${'pass'.padStart(5)}  most hit other`];
  const entries = Object.entries(r.domains);
  for (const [d, x] of entries) {
    const worst = mostAffectedOther(x);
    const ci = x.ci;
    lines.push(`${d.padEnd(12)} ${String(x.experts_removed).padStart(7)} ${String(x.tokens ?? '').padStart(7)} ${x.ppl_before.toFixed(3).padStart(10)} ${x.ppl_after.toFixed(3).padStart(10)} ${pct(x.target_rel_increase).padStart(9)} ${(ci ? fmtPctInterval(ci.target_rel_increase) : '').padStart(16)} ${pct(x.others_mean_rel_increase).padStart(8)} ${(ci ? fmtPctInterval(ci.others_mean_rel_increase) : '').padStart(14)} ${fmtSel(x).padStart(7)} ${(ci ? fmtRatioInterval(ci.selectivity) : '').padStart(13)} ${(ci ? `${Math.round(ci.pass_share * 100)}%` : '').padStart(5)}  ${worst ? `${worst.domain} ${pct(worst.relIncrease)}` : ''}`);
  }
  if (entries.length) {
    const mean = (f: (x: DomainMaskingRow) => number) => entries.reduce((s, [, x]) => s + f(x), 0) / entries.length;
    const s = summarizeDomainMasking(r.domains, SELECTIVITY_BAR, r.bootstrap);
    const med = s.median_selectivity === null || s.median_selectivity === undefined ? '∞' : `${s.median_selectivity.toFixed(1)}×`;
    lines.push(`${'median'.padEnd(12)} ${''.padStart(7)} ${''.padStart(7)} ${''.padStart(10)} ${''.padStart(10)} ${''.padStart(9)} ${''.padStart(16)} ${''.padStart(8)} ${''.padStart(14)} ${med.padStart(7)} ${(s.median_selectivity_ci ? fmtRatioInterval(s.median_selectivity_ci) : '').padStart(13)}`);
    const ratio = s.mean_selectivity !== null ? `${s.mean_selectivity.toFixed(1)}×` : '—';
    lines.push(`${'mean'.padEnd(12)} ${mean((x) => x.experts_removed).toFixed(1).padStart(7)} ${''.padStart(7)} ${''.padStart(10)} ${''.padStart(10)} ${pct(s.mean_target_rel_increase).padStart(9)} ${''.padStart(16)} ${pct(s.mean_others_rel_increase).padStart(8)} ${''.padStart(14)} ${ratio.padStart(7)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The verdict line: domains that clear the bar, with the bootstrap interval of that count and the median ratio. */
export function formatVerdict(r: DomainMaskingResult): string {
  const s = summarizeDomainMasking(r.domains, SELECTIVITY_BAR, r.bootstrap);
  const n = Object.keys(r.domains).length;
  const ci = s.passing_ci ? ` (95% CI ${s.passing_ci[0]}–${s.passing_ci[1]})` : '';
  const med = s.median_selectivity === null || s.median_selectivity === undefined ? '∞' : `${s.median_selectivity.toFixed(1)}×`;
  return `${s.passing.length} of ${n} domains at ΔTarget ≥ ${SELECTIVITY_BAR} × ΔOthers${ci}${s.passing.length ? `: ${s.passing.join(', ')}` : ''}; median ratio ${med}${s.median_selectivity_ci ? ` ${fmtRatioInterval(s.median_selectivity_ci)}` : ''}; mean-over-mean ${s.mean_selectivity !== null ? `${s.mean_selectivity.toFixed(1)}×` : '—'} (dominated by the domains with the largest ΔTarget)\n`;
}
