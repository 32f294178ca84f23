/** A GitHub-flavoured Markdown table, for pasting results into notes and papers. Pure, no DOM. */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[], align: readonly ('left' | 'right')[] = []): string {
  // A pipe inside a cell would end it; a newline would end the row.
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = head.map((_, k) => (align[k] === 'right' ? '---:' : '---'));
  return [line(head), `| ${rule.join(' | ')} |`, ...rows.map(line)].join('\n');
}
