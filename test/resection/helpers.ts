/** Shared by the resection tests: a small labelled corpus (two domains) for the tiny character-level fixtures. */
import { writeFile } from 'node:fs/promises';

const code = [
  'def add(a, b):\n    return a + b',
  'for (let i = 0; i < n; i++) { sum += x[i]; }',
  'if x == None:\n    raise ValueError("x")',
  'int main(void) { return 0; }',
  'const f = (x) => x * 2;',
  'while (p != NULL) { p = p->next; }',
];
const prose = [
  'The old man walked slowly to the harbour at dawn.',
  'She opened the letter and smiled at the news.',
  'Rain fell over the quiet village all night long.',
  'They talked about the summer and the long roads home.',
  'A small bird sang on the fence by the garden.',
  'He read the book twice before he understood it.',
];

export function labelledSamples(): { text: string; domain: string }[] {
  const out: { text: string; domain: string }[] = [];
  for (let k = 0; k < code.length; k++) out.push({ text: code[k]!, domain: 'code' }, { text: prose[k]!, domain: 'prose' });
  return out;
}

export async function writeLabelledJsonl(file: string, extra: (s: { text: string; domain: string }, k: number) => Record<string, unknown> = () => ({})): Promise<void> {
  await writeFile(file, labelledSamples().map((s, k) => JSON.stringify({ ...s, ...extra(s, k) })).join('\n') + '\n');
}
