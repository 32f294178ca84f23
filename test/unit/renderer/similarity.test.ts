/** The closest domain by routing: the mean cosine over routing groups, never the domain itself. */
import { describe, expect, it } from 'vitest';
import { closestDomain } from '../../../renderer/src/util/similarity';

describe('closestDomain', () => {
  const sim = {
    domains: ['c', 'news', 'science'],
    groups: [
      [[1, 0.4, 0.3], [0.4, 1, 0.9], [0.3, 0.9, 1]],
      [[1, 0.8, 0.2], [0.8, 1, 0.7], [0.2, 0.7, 1]],
    ],
  };
  it('averages the groups: one group alone would name another domain', () => {
    // news: science 0.9 / 0.7 (mean 0.8) against c 0.4 / 0.8 (mean 0.6); c: news 0.4 / 0.8 (0.6) against science 0.25.
    expect(closestDomain(sim, 'news')).toEqual({ domain: 'science', cosine: expect.closeTo(0.8, 12) });
    expect(closestDomain(sim, 'c')).toEqual({ domain: 'news', cosine: expect.closeTo(0.6, 12) });
  });
  it('has no answer for an unknown domain, a single domain or no groups', () => {
    expect(closestDomain(sim, 'law')).toBeNull();
    expect(closestDomain({ domains: ['c'], groups: [[[1]]] }, 'c')).toBeNull();
    expect(closestDomain({ domains: ['c', 'news'], groups: [] }, 'c')).toBeNull();
  });
});
