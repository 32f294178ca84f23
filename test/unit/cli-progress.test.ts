/** CLI progress lines on stderr: percentage and counts from the known total, time left only while work remains. */
import { describe, expect, it } from 'vitest';
import { cliProgress, formatSeconds } from '../../main/cli/progress';

function sink() {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
  return { lines, stream };
}

describe('cliProgress', () => {
  it('prints share, counts and extra; the last line at the total has no time left', () => {
    const { lines, stream } = sink();
    const p = cliProgress('atlas', 'samples', { stream, everyMs: 0 });
    p.update(10, 40, '100 tokens/s');
    p.update(40, 40);
    expect(lines[0]).toBe('resect: atlas 25% · 10 / 40 samples · 100 tokens/s\n');
    expect(lines.at(-1)).toBe('resect: atlas 100% · 40 / 40 samples\n');
    expect(lines.join('')).not.toMatch(/\b0 s left/);
  });
  it('without a total prints a count only, and nothing at all when quiet', () => {
    const { lines, stream } = sink();
    cliProgress('perplexity', 'samples', { stream, everyMs: 0 }).update(7, null);
    cliProgress('perplexity', 'samples', { stream, everyMs: 0, quiet: true }).update(7, 9);
    expect(lines).toEqual(['resect: perplexity · 7 samples\n']);
  });
  it('formats seconds for people', () => {
    expect(formatSeconds(0.3)).toBe('under 1 s');
    expect(formatSeconds(42)).toBe('42 s');
    expect(formatSeconds(130)).toBe('2 min 10 s');
    expect(formatSeconds(7300)).toBe('2 h 1 min');
  });
});
