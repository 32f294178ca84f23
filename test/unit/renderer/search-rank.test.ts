/** Search hits ranked by relevance: matched share × domain specificity × reliability, with readable ties. */
import { describe, expect, it } from 'vitest';
import { rankHits, specificity } from '../../../renderer/src/util/search-rank';

const hit = (id: number, matches: number, skew: number | null, count = 1000, totalScore = 1) => ({ group: 0, id, matches, skew, count, totalScore });

describe('rankHits', () => {
  it('puts a specific expert whose contexts nearly all match above a general one that matched more often', () => {
    const ranked = rankHits([hit(1, 20, 1.05), hit(2, 18, 6), hit(3, 4, null)], 20);
    expect(ranked.map((r) => r.hit.id)).toEqual([2, 1, 3]);
    expect(ranked[0]!.relevance).toBeCloseTo(0.9 * 0.875);
  });
  it('discounts experts seen on few tokens and breaks ties by matches, then total score', () => {
    const ranked = rankHits([hit(1, 10, null, 5), hit(2, 10, null, 500), hit(3, 10, null, 500, 9)], 10);
    expect(ranked.map((r) => r.hit.id)).toEqual([3, 2, 1]);
    expect(ranked[2]!.reliability).toBeCloseTo(0.1);
  });
  it('specificity grows with skew from 0.25 (general or unused) to 1 (one domain only)', () => {
    expect(specificity(0)).toBe(0.25);
    expect(specificity(1)).toBe(0.25);
    expect(specificity(2)).toBeCloseTo(0.625);
    expect(specificity(null)).toBe(1);
  });
});
