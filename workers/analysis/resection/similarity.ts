/**
 * How alike the domains are routed: per routing group, the cosine similarity of the domains' mean routing vectors
 * (mean over each domain's tokens of S[i,j], over every composite expert). Domains routed alike (cosine near 1) share
 * their experts, so the skew rule finds few experts of their own and removing them reaches the neighbours too; the
 * matrix says before any removal which domains can be told apart (docs/resection.md).
 */
import type { RoutingStats } from './routing';

export interface ClosestDomain { domain: string; cosine: number }

export interface RoutingSimilarity {
  domains: string[];
  /** [group][d][d'] cosine in [0, 1] (routing probabilities are non-negative); 0 for a domain with no tokens. */
  groups: number[][][];
  /** Per domain, the other domain routed most alike by the mean cosine over groups (null with no other domain). */
  closest: (ClosestDomain | null)[];
}

/** Per domain, the other domain with the highest cosine averaged over the routing groups. */
export function closestDomains(sim: Pick<RoutingSimilarity, 'domains' | 'groups'>): (ClosestDomain | null)[] {
  return sim.domains.map((_, k) => {
    let best: ClosestDomain | null = null;
    if (!sim.groups.length) return best;
    sim.domains.forEach((d, j) => {
      if (j === k) return;
      const cosine = sim.groups.reduce((a, t) => a + t[k]![j]!, 0) / sim.groups.length;
      if (!best || cosine > best.cosine) best = { domain: d, cosine };
    });
    return best;
  });
}

function dot(a: Float64Array, b: Float64Array): number {
  let x = 0;
  for (let e = 0; e < a.length; e++) x += a[e]! * b[e]!;
  return x;
}

export function routingSimilarity(s: RoutingStats): RoutingSimilarity {
  const D = s.domains.length;
  const groups: number[][][] = [];
  for (let g = 0; g < s.groups; g++) {
    const means = Array.from({ length: D }, (_, d) => s.domainMeans(g, d));
    const norms = means.map((m) => Math.sqrt(dot(m, m)));
    const table = means.map(() => new Array<number>(D).fill(0));
    for (let a = 0; a < D; a++) {
      for (let b = a; b < D; b++) {
        const c = norms[a]! > 0 && norms[b]! > 0 ? Math.min(1, dot(means[a]!, means[b]!) / (norms[a]! * norms[b]!)) : 0;
        table[a]![b] = c;
        table[b]![a] = c;
      }
    }
    groups.push(table);
  }
  return { domains: [...s.domains], groups, closest: closestDomains({ domains: s.domains, groups }) };
}
