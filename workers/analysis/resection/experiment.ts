/**
 * The paper's domain-masking experiment (spec §5.1) on any Monet model and labelled corpus: routing statistics →
 * skew-rule selection per domain → mask → per-domain perplexity after removing each domain's experts, against the
 * unmasked model. Perplexity stands in for MMLU accuracy, so the table reads as relative perplexity *increases*.
 */
import { parseMaskJson } from '../../models/monet/mask';
import type { MonetModel } from '../../models/monet/model';
import { perplexity, type Sample } from '../../models/monet/perplexity';
import type { TextTokenizer } from '../../tokenizer';
import { comparePerplexity, type PerplexityComparison } from './evaluate';
import { collectRoutingStats, type RoutingStats } from './routing';
import { selectByDomain, type Scope, type Selection } from './select';

export interface DomainMaskingRow {
  experts_removed: number;
  ppl_before: number;
  ppl_after: number;
  target_rel_increase: number;
  others_mean_rel_increase: number;
}

export interface DomainMaskingResult {
  domains: Record<string, DomainMaskingRow>;
  /** Experts per domain and group (Tables 9–10 shape). */
  counts: NonNullable<Selection['counts']>;
  source: string;
  ratio: number;
  scope: Scope;
  comparisons: Record<string, PerplexityComparison>;
}

export interface DomainMaskingOptions {
  ratio?: number;
  minMass?: number;
  /** Routing statistics from an atlas; without, a routing pass over `statsSamples` (default: the evaluation samples). */
  stats?: RoutingStats;
  statsSamples?: readonly Sample[];
  context?: number;
  onProgress?: (done: number, total: number, what: string) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export async function domainMasking(model: MonetModel, tokenizer: TextTokenizer, samples: readonly Sample[], o: DomainMaskingOptions = {}): Promise<DomainMaskingResult> {
  const ratio = o.ratio ?? 2;
  const common = { signal: o.signal, ...(o.context ? { context: o.context } : {}) };
  const stats = o.stats ?? await collectRoutingStats(model, tokenizer, o.statsSamples ?? samples, { ...common });
  const all = selectByDomain(stats, { kind: 'domain', ratio, minMass: o.minMass ?? 0 });
  const domains = [...new Set(samples.map((s) => String(s.domain ?? 'default')))].sort();
  const total = domains.length + 1;
  o.log?.(`routing statistics from ${stats.source}: ${stats.domains.length} domains, ${stats.groups} groups`);
  const before = await perplexity(model, tokenizer, samples, common);
  o.onProgress?.(1, total, 'perplexity before');
  const rows: Record<string, DomainMaskingRow> = {};
  const comparisons: Record<string, PerplexityComparison> = {};
  for (const [k, d] of domains.entries()) {
    o.signal?.throwIfAborted();
    const sel = stats.domains.includes(d) ? selectByDomain(stats, { kind: 'domain', domain: d, ratio, minMass: o.minMass ?? 0 }) : null;
    const experts = sel?.experts.length ?? 0;
    const after = experts > 0 ? await perplexity(model, tokenizer, samples, { ...common, masks: parseMaskJson(model.config, sel!.mask, 'mask') }) : before;
    const cmp = comparePerplexity(before, after, d);
    comparisons[d] = cmp;
    const row = cmp.rows.find((r) => r.domain === d)!;
    rows[d] = {
      experts_removed: experts, ppl_before: row.pplBefore, ppl_after: row.pplAfter,
      target_rel_increase: cmp.targetRelIncrease ?? 0, others_mean_rel_increase: cmp.othersMeanRelIncrease ?? 0,
    };
    o.log?.(`${d}: ${experts} experts, ppl ${row.pplBefore.toFixed(3)} → ${row.pplAfter.toFixed(3)}, ΔTarget ${(rows[d].target_rel_increase * 100).toFixed(2)}%, ΔOthers ${(rows[d].others_mean_rel_increase * 100).toFixed(2)}%`);
    o.onProgress?.(k + 2, total, d);
  }
  return { domains: rows, counts: all.counts!, source: stats.source, ratio, scope: 'group', comparisons };
}

/** The experiment as a text table (one row per domain, the mean last). */
export function formatDomainMasking(r: DomainMaskingResult): string {
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
  const lines = [`${'domain'.padEnd(16)} ${'experts'.padStart(8)} ${'ppl before'.padStart(11)} ${'ppl after'.padStart(11)} ${'ΔTarget'.padStart(9)} ${'ΔOthers'.padStart(9)}`];
  const entries = Object.entries(r.domains);
  for (const [d, x] of entries) {
    lines.push(`${d.padEnd(16)} ${String(x.experts_removed).padStart(8)} ${x.ppl_before.toFixed(3).padStart(11)} ${x.ppl_after.toFixed(3).padStart(11)} ${pct(x.target_rel_increase).padStart(9)} ${pct(x.others_mean_rel_increase).padStart(9)}`);
  }
  if (entries.length) {
    const mean = (f: (x: DomainMaskingRow) => number) => entries.reduce((s, [, x]) => s + f(x), 0) / entries.length;
    lines.push(`${'mean'.padEnd(16)} ${mean((x) => x.experts_removed).toFixed(1).padStart(8)} ${''.padStart(11)} ${''.padStart(11)} ${pct(mean((x) => x.target_rel_increase)).padStart(9)} ${pct(mean((x) => x.others_mean_rel_increase)).padStart(9)}`);
  }
  return `${lines.join('\n')}\n`;
}
