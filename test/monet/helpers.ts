/** Shared by the Monet tests: the tiny fixtures with a character-level tokenizer (test/support/tiny-monet.ts). */
import { expect } from 'vitest';
import { fixtureWithTokenizerSync } from '../support/tiny-monet';

export { FIXTURES, charTokenizer } from '../support/tiny-monet';

/** A copy of a fixture folder with the character tokenizer (BOS prepended). */
export async function fixtureWithTokenizer(name: string): Promise<string> {
  return fixtureWithTokenizerSync(name);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
