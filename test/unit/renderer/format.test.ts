/** Time left and percentages shown for jobs: only from a known total and a measured rate, never "0 s" for unfinished work. */
import { describe, expect, it } from 'vitest';
import { formatPercent, formatTimeLeft } from '../../../renderer/src/util/format';

describe('formatTimeLeft', () => {
  it('is empty without a total, without a rate, and once the counted work is done', () => {
    expect(formatTimeLeft({ done: 5, total: null, etaSeconds: 3 })).toBe('');
    expect(formatTimeLeft({ done: 5, total: 10, etaSeconds: null })).toBe('');
    expect(formatTimeLeft({ done: 10, total: 10, etaSeconds: 0 })).toBe('');
    expect(formatTimeLeft(null)).toBe('');
  });
  it('says "under 1 s" rather than "0 s" while work remains, and minutes otherwise', () => {
    expect(formatTimeLeft({ done: 9, total: 10, etaSeconds: 0.2 })).toBe('under 1 s');
    expect(formatTimeLeft({ done: 1, total: 10, etaSeconds: 185 })).toBe('3 m 05 s');
  });
});

describe('formatPercent', () => {
  it('floors (never 100% before the end) and is empty without a total', () => {
    expect(formatPercent(999, 1000)).toBe('99%');
    expect(formatPercent(1000, 1000)).toBe('100%');
    expect(formatPercent(3, null)).toBe('');
    expect(formatPercent(3, 0)).toBe('');
  });
});
