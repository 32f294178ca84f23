/**
 * Ranking of expert search hits by relevance, as a reader of an interpretability browser expects: an expert whose
 * top contexts nearly all match and that is specific to one domain comes before one that matched a few contexts
 * and fires on everything. The parts are shown beside each hit, so the order can be read, not only trusted.
 *
 *   relevance = share of its kept top contexts that match × specificity × reliability
 *   specificity = 0.25 + 0.75 · (1 − 1/skew)     (skew 1 → 0.25, 2 → 0.63, ∞ → 1; a general expert still counts)
 *   reliability = min(1, active tokens / 50)      (a skew measured on a handful of tokens is noise)
 * Ties: more matching contexts, then higher total routing score, then the lower id.
 */
export const RELIABLE_TOKENS = 50;

export interface SearchHit { group: number; id: number; matches: number; count: number; skew: number | null; totalScore: number }

export interface RankedHit<H extends SearchHit> { hit: H; relevance: number; share: number; specificity: number; reliability: number }

/** skew null means infinite (only one domain has mass); 0 means unused. */
export function specificity(skew: number | null): number {
  if (skew === null) return 1;
  if (!(skew > 1)) return 0.25;
  return 0.25 + 0.75 * (1 - 1 / skew);
}

export function rankHits<H extends SearchHit>(hits: readonly H[], contextsPerExpert: number): RankedHit<H>[] {
  const k = Math.max(1, contextsPerExpert);
  return hits
    .map((hit) => {
      const share = Math.min(1, hit.matches / k);
      const spec = specificity(hit.skew);
      const reliability = Math.min(1, hit.count / RELIABLE_TOKENS);
      return { hit, share, specificity: spec, reliability, relevance: share * spec * reliability };
    })
    .sort((a, b) => b.relevance - a.relevance || b.hit.matches - a.hit.matches || b.hit.totalScore - a.hit.totalScore || a.hit.group - b.hit.group || a.hit.id - b.hit.id);
}
