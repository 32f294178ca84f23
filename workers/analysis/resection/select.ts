/**
 * Choosing experts to remove from routing statistics (an atlas or the routing pass): by domain with the skew rule,
 * or by correlation with a per-sample score (toxicity), and turning the choice into a mask in the JSON form of
 * workers/models/monet/mask.ts.
 *
 * Scope (spec §3.5): 'group' removes an expert from every layer that consumes its routing group's router (the
 * paper's reading, `{"groups": {"<g>": [ids]}}`); 'layer' removes it from one layer only
 * (`{"layers": {"<l>": [ids]}}`, the experts of that layer's group).
 */
import { pearsonAll, skewAssign } from './stats';
import type { RoutingStats } from './routing';

export type Scope = 'group' | 'layer';

export interface MaskJson {
  layers?: Record<string, number[]>;
  groups?: Record<string, number[]>;
  rows?: Record<string, number[]>;
  columns?: Record<string, number[]>;
}

export interface SelectedExpert {
  group: number;
  /** Flat id i·E + j. */
  id: number;
  i: number;
  j: number;
  /** Domain rule: the expert's domain. */
  domain?: string;
  /** Domain rule: top / second mean (Infinity when the second is 0). Score rule: Pearson r. */
  value: number;
  /** Domain rule: the top domain's mean routing probability. */
  mass?: number;
}

export type DomainRule = { kind: 'domain'; domain?: string | null; ratio?: number; minMass?: number; scope?: Scope; layer?: number | null };
export type ScoreRule = { kind: 'score'; score: string; tau: number; scope?: Scope; layer?: number | null };
export type SelectionRule = DomainRule | ScoreRule;

export interface Selection {
  rule: SelectionRule;
  source: string;
  scope: Scope;
  layer: number | null;
  /** Composite experts per group (E²) and groups. */
  expertsPerGroup: number;
  groups: number;
  /** Domain rule: experts per domain (rows) and group (columns), as the paper's Tables 9–10, with totals. */
  counts?: { domains: string[]; table: number[][]; totals: number[] };
  /**
   * Share of each domain's routing mass (Σ over its tokens of S) that the chosen experts carry, per domain (rows)
   * and group (columns): what the removal takes from each domain before anything is evaluated. The target's share
   * over the others' mean is the selection's selectivity in routing mass; measured perplexity follows it loosely
   * (docs/resection.md). Zero rows when nothing is chosen.
   */
  massShare: { domains: string[]; table: number[][] };
  /** The experts to remove (for the domain rule without a target: every specialised expert). Sorted by group, id. */
  experts: SelectedExpert[];
  /** Mask removing `experts` (empty without a target domain). */
  mask: MaskJson;
}

const checkScope = (s: RoutingStats, scope: Scope, layer: number | null | undefined): number | null => {
  if (scope === 'group') return null;
  if (layer === null || layer === undefined || !Number.isInteger(layer) || layer < 0 || layer >= s.layers) {
    throw new RangeError(`scope "layer" needs a layer from 0 to ${s.layers - 1}`);
  }
  return layer;
};

function toMask(s: RoutingStats, experts: readonly SelectedExpert[], scope: Scope, layer: number | null): MaskJson {
  if (experts.length === 0) return {};
  const by = new Map<number, number[]>();
  for (const e of experts) {
    if (scope === 'layer' && Math.floor(layer! / s.groupSize) !== e.group) continue;
    let l = by.get(e.group);
    if (!l) by.set(e.group, (l = []));
    l.push(e.id);
  }
  const sorted = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
  if (scope === 'group') return { groups: Object.fromEntries([...by].sort((a, b) => a[0] - b[0]).map(([g, ids]) => [String(g), sorted(ids)])) };
  const ids = by.get(Math.floor(layer! / s.groupSize)) ?? [];
  return ids.length ? { layers: { [String(layer)]: sorted(ids) } } : {};
}

/** `means(g)`: the groups' per-domain means when the caller already has them (they are E²-sized per domain). */
function massShare(s: RoutingStats, experts: readonly SelectedExpert[], means?: (g: number) => Float64Array[] | undefined): Selection['massShare'] {
  const table = s.domains.map(() => new Array<number>(s.groups).fill(0));
  for (let g = 0; g < s.groups; g++) {
    const ids = experts.filter((e) => e.group === g).map((e) => e.id);
    if (!ids.length) continue;
    const known = means?.(g);
    for (let d = 0; d < s.domains.length; d++) {
      const m = known?.[d] ?? s.domainMeans(g, d);
      let total = 0;
      for (let e = 0; e < m.length; e++) total += m[e]!;
      let chosen = 0;
      for (const id of ids) chosen += m[id]!;
      table[d]![g] = total > 0 ? chosen / total : 0;
    }
  }
  return { domains: [...s.domains], table };
}

/** The skew rule over every group; the experts of `rule.domain` (or of every domain when none is named). */
export function selectByDomain(s: RoutingStats, rule: DomainRule): Selection {
  const scope = rule.scope ?? 'group';
  const layer = checkScope(s, scope, rule.layer);
  const target = rule.domain ?? null;
  const t = target === null ? -1 : s.domains.indexOf(target);
  if (target !== null && t < 0) throw new RangeError(`unknown domain "${target}" (the statistics have ${s.domains.join(', ') || 'no domains'})`);
  const N = s.experts * s.experts;
  const D = s.domains.length;
  const table = s.domains.map(() => new Array<number>(s.groups).fill(0));
  const experts: SelectedExpert[] = [];
  const meansByGroup = new Map<number, Float64Array[]>();
  for (let g = 0; g < s.groups; g++) {
    if (layer !== null && Math.floor(layer / s.groupSize) !== g) continue;
    const means = Array.from({ length: D }, (_, d) => s.domainMeans(g, d));
    meansByGroup.set(g, means);
    const r = skewAssign(means, { ratio: rule.ratio ?? 2, minMass: rule.minMass ?? 0 });
    for (let e = 0; e < N; e++) {
      const d = r.domain[e]!;
      if (d < 0) continue;
      table[d]![g]!++;
      if (t < 0 || d === t) experts.push({ group: g, id: e, i: Math.floor(e / s.experts), j: e % s.experts, domain: s.domains[d]!, value: r.skew[e]!, mass: r.top[e]! });
    }
  }
  return {
    rule: { ...rule, kind: 'domain', ratio: rule.ratio ?? 2, minMass: rule.minMass ?? 0, scope, layer },
    source: s.source, scope, layer, expertsPerGroup: N, groups: s.groups,
    counts: { domains: [...s.domains], table, totals: table.map((row) => row.reduce((a, b) => a + b, 0)) },
    massShare: massShare(s, target === null ? [] : experts, (g) => meansByGroup.get(g)),
    experts,
    mask: target === null ? {} : toMask(s, experts, scope, layer),
  };
}

/** Experts whose Pearson correlation with the score exceeds τ (spec §5.3), strongest first within each group. */
export function selectByScore(s: RoutingStats, rule: ScoreRule): Selection {
  const scope = rule.scope ?? 'group';
  const layer = checkScope(s, scope, rule.layer);
  if (!s.scoreNames.includes(rule.score)) throw new RangeError(`no correlation sums for score "${rule.score}" (collected: ${s.scoreNames.join(', ') || 'none'})`);
  const experts: SelectedExpert[] = [];
  for (let g = 0; g < s.groups; g++) {
    if (layer !== null && Math.floor(layer / s.groupSize) !== g) continue;
    const sums = s.corrSums(g, rule.score);
    if (!sums) continue;
    const r = pearsonAll(sums);
    for (let e = 0; e < r.length; e++) if (r[e]! > rule.tau) experts.push({ group: g, id: e, i: Math.floor(e / s.experts), j: e % s.experts, value: r[e]! });
  }
  return {
    rule: { ...rule, kind: 'score', scope, layer }, source: s.source, scope, layer,
    expertsPerGroup: s.experts * s.experts, groups: s.groups,
    massShare: massShare(s, experts),
    experts, mask: toMask(s, experts, scope, layer),
  };
}

export function select(s: RoutingStats, rule: SelectionRule): Selection {
  return rule.kind === 'domain' ? selectByDomain(s, rule) : selectByScore(s, rule);
}

/** Every expert's Pearson r against a score for one group (for ranking views). */
export function correlations(s: RoutingStats, group: number, score: string): Float64Array | null {
  const sums = s.corrSums(group, score);
  return sums ? pearsonAll(sums) : null;
}
