/** Markdown tables of results: columns aligned as asked, cells that cannot break the table. */
import { describe, expect, it } from 'vitest';
import { markdownTable } from '../../../renderer/src/util/markdown';

describe('markdownTable', () => {
  it('writes a header, an alignment rule and one line per row', () => {
    expect(markdownTable(['Domain', 'ΔTarget'], [['c', '+109.21%'], ['news', '+1.12%']], ['left', 'right'])).toBe(
      '| Domain | ΔTarget |\n| --- | ---: |\n| c | +109.21% |\n| news | +1.12% |',
    );
  });
  it('escapes pipes and folds newlines so a cell stays a cell', () => {
    expect(markdownTable(['a'], [['x | y\nz']])).toBe('| a |\n| --- |\n| x \\| y z |');
  });
});
