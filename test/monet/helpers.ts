/** Shared by the Monet tests: a character-level tokenizer.json that fits the fixtures' 97-token vocabulary. */
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';

export const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** <unk> 0, <s> 1, </s> 2, then the characters 32…125 (94): 97 tokens, one per character, no merges. */
export function charTokenizer() {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let c = 32; c <= 125; c++) vocab[String.fromCharCode(c)] = 3 + c - 32;
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: null, pre_tokenizer: null, post_processor: null,
    decoder: { type: 'Fuse' },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: false, vocab, merges: [] },
  };
}

/** A copy of a fixture folder with the character tokenizer (BOS prepended). */
export async function fixtureWithTokenizer(name: string): Promise<string> {
  const dir = path.join(await mkdtemp(path.join(tmpdir(), 'resect-monet-')), name);
  await cp(path.join(FIXTURES, name), dir, { recursive: true });
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(charTokenizer()));
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: true, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }));
  return dir;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
