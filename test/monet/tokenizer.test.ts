import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTokenizer, loadTokenizer, TokenizerError } from '../../workers/tokenizer';
import { bytesToUnicode } from '../../workers/tokenizer/pretokenize';

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** A tiny LLaMA-style SentencePiece-BPE tokenizer.json with byte fallback (the layout of HF's LlamaTokenizerFast). */
function llamaTokenizer() {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', 'he', 'll', 'hell', 'hello', '▁hello', '▁w', 'or', '▁wor', 'ld', '▁world'];
  for (const p of pieces) vocab[p] = Object.keys(vocab).length;
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, vocab,
      merges: ['h e', 'l l', 'he ll', 'hell o', '▁ hello', '▁ w', 'o r', '▁w or', 'l d', '▁wor ld'],
    },
  };
}
const llamaConfig = { add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', legacy: false };

/** A tiny byte-level BPE tokenizer.json (GPT-2 layout). */
function byteLevelTokenizer() {
  const vocab: Record<string, number> = {};
  for (const ch of bytesToUnicode()) vocab[ch] = Object.keys(vocab).length;
  for (const p of ['he', 'll', 'hell', 'hello', 'Ġw', 'or', 'Ġwor', 'ld', 'Ġworld', '<|endoftext|>']) vocab[p] = Object.keys(vocab).length;
  const eot = vocab['<|endoftext|>']!;
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(eot, '<|endoftext|>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false,
      byte_fallback: false, vocab, merges: ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'o r', 'Ġw or', 'l d', 'Ġwor ld'],
    },
  };
}

describe('tokenizer', () => {
  it('encodes and decodes LLaMA SentencePiece-BPE with byte fallback, BOS prepended once', () => {
    const tok = createTokenizer(llamaTokenizer(), llamaConfig, { bosTokenId: 1, eosTokenId: 2 });
    const ids = tok.encode('hello world');
    expect(ids.map((i) => tok.idToToken(i))).toEqual(['<s>', '▁hello', '▁world']);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('hello world');
    expect(tok.encode('hello', { addBos: false }).map((i) => tok.idToToken(i))).toEqual(['▁hello']);
    // é is not in the vocabulary: byte fallback gives its two UTF-8 bytes, and decoding fuses them back.
    const e = tok.encode('hé', { addBos: false });
    expect(e.map((i) => tok.idToToken(i))).toEqual(['▁', 'h', '<0xC3>', '<0xA9>']);
    expect(tok.decode(e)).toBe('hé');
    expect(tok.decode([1, ...tok.encode('world', { addBos: false })])).toBe('<s> world');
    expect(tok).toMatchObject({ bosId: 1, eosId: 2, padId: 2, addBos: true, vocabSize: 3 + 256 + 18 });
  });

  it('encodes and decodes byte-level BPE round trip, any UTF-8', () => {
    const tok = createTokenizer(byteLevelTokenizer(), {}, { bosTokenId: null, eosTokenId: 265 });
    expect(tok.addBos).toBe(false);
    const ids = tok.encode('hello world');
    expect(ids.map((i) => tok.idToToken(i))).toEqual(['hello', 'Ġworld']);
    for (const text of ['hello world', 'héllo wörld ✓ 𝛑', '  spaces\nand\ttabs ']) expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('loads from a folder with tokenizer_config.json and reports a missing tokenizer clearly', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'resect-tok-'));
    try {
      await expect(loadTokenizer(dir)).rejects.toThrow(/no tokenizer \(neither tokenizer\.json nor tokenizer\.model\)/);
      await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(llamaTokenizer()));
      await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(llamaConfig));
      const tok = await loadTokenizer(dir);
      expect(tok.bosId).toBe(1);
      expect(tok.encode('hello')).toEqual([1, tok.tokenToId('▁hello')]);
      await writeFile(path.join(dir, 'tokenizer.json'), '{"nothing": 1}');
      await expect(loadTokenizer(dir)).rejects.toThrow(TokenizerError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
