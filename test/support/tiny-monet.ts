/**
 * The tiny Monet fixtures (test/fixtures/monet-{vd,hd}-tiny) ship without a tokenizer: these helpers give them a
 * character-level tokenizer.json that fits their 97-token vocabulary, so every suite (vitest and Playwright) can
 * generate, route and build atlases on them. No test framework is imported here, so both runners can use it.
 */
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * test/fixtures: the parity checkpoints monet-{vd,hd}-tiny (random weights; expected.safetensors and masks.json from
 * an independent PyTorch reference of the published Monet forward) were written by ../shared/fixtures/generate.py
 * (fixed seeds; provenance in ../shared/fixtures/README.md and test/monet/forward.test.ts).
 */
export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

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

/** Copies fixture `name` to `dest` (a new folder) and adds the character tokenizer (BOS prepended). Returns `dest`. */
export function copyFixtureWithTokenizer(name: string, dest: string): string {
  cpSync(path.join(FIXTURES, name), dest, { recursive: true });
  writeFileSync(path.join(dest, 'tokenizer.json'), JSON.stringify(charTokenizer()));
  writeFileSync(path.join(dest, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: true, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }));
  return dest;
}

/** A copy of fixture `name` with the character tokenizer, in a new temporary folder. */
export function fixtureWithTokenizerSync(name: string): string {
  return copyFixtureWithTokenizer(name, path.join(mkdtempSync(path.join(tmpdir(), 'resect-monet-')), name));
}
