/** Reading the routing-similarity matrix (`resection.similarity`): pure functions, no Vue. */
import type { Result } from '../../../common/api';

export type RoutingSimilarity = Result<'resection.similarity'>;

/** The other domain routed most like `domain` (cosine of mean routing, averaged over groups), or null. */
export function closestDomain(sim: RoutingSimilarity, domain: string): { domain: string; cosine: number } | null {
  const k = sim.domains.indexOf(domain);
  if (k < 0 || !sim.groups.length) return null;
  let best: { domain: string; cosine: number } | null = null;
  sim.domains.forEach((d, j) => {
    if (j === k) return;
    const cosine = sim.groups.reduce((a, t) => a + t[k]![j]!, 0) / sim.groups.length;
    if (!best || cosine > best.cosine) best = { domain: d, cosine };
  });
  return best;
}
