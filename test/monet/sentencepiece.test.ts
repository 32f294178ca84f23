/**
 * tokenizer.model (SentencePiece) folders, as the released base Monet repositories ship them:
 * - LLaMA's 32,000-piece vocabulary as a `.model` protobuf (test/support/published-monet.ts), converted by Resect and
 *   compared with SentencePiece itself (the C++ library compiled to WebAssembly, @sctg/sentencepiece-js) on ids and
 *   decoded text, and with llama-tokenizer-js (an independent JS LLaMA encoder that ships the vocabulary) on ids;
 * - special tokens, tokenizer_config.json / special_tokens_map.json (BOS, EOS), chat templates;
 * - refusals: not a protobuf, a Unigram model, no tokenizer at all.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SentencePieceProcessor } from '@sctg/sentencepiece-js';
import { LlamaTokenizer } from 'llama-tokenizer-js';
import { seededRandom } from '../../workers/models/monet/generate';
import { encodePrompt, loadTokenizer, TokenizerError, type TextTokenizer } from '../../workers/tokenizer';
import { encodeSentencePieceModel, ModelType, parseSentencePieceModel, PieceType } from '../../workers/tokenizer/sentencepiece';
import { llamaSentencePieceModel, PUBLISHED_TOKENIZER_CONFIG, tinySentencePieceModel } from '../support/published-monet';

const TEXTS = [
  'Hello world', 'The quick brown fox jumps over the lazy dog.', "It's a dog's life, isn't it? We'll see.",
  'def add(a, b):\n    return a + b\n', 'for (let i = 0; i < n; i++) {\n\tsum += x[i];\n}',
  '   leading spaces', 'trailing spaces   ', 'two  spaces,   three,    four', ' ', '  ', '\n', '\r\n\r\n', 'a\tb\u000bc',
  'x', '12345 67.89 1,000,000 3e-5', '東京は日本の首都です。', 'مرحبا بالعالم', 'Здравствуй, мир!',
  'emoji 🙂👍🏽 🦀 and a flag 🇫🇷 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ 𓀀', 'e\u0301 vs \u00e9', 'zero\u200bwidth 👨\u200d👩\u200d👧',
  'control \u0001 \u007f \u0085 chars', 'a literal ▁ in the text', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'supercalifragilisticexpialidocious antidisestablishmentarianism', 'https://example.com/path?query=1&x=%20#frag',
  '"quoted" \'single\' `back` «guillemets» „low“', 'MiXeD CaSe and camelCaseIdentifier_with_snake',
];

function randomTexts(n: number, seed: number): string[] {
  const pool = ['a', 'b', 'e', 'th', ' ', '  ', '\n', '\t', '.', ',', "'s", '1', '9', 'é', 'e\u0301', 'ß', '東', '語', 'ا', '🙂', '🦀', '𝔘', '\u200d', 'ing', 'tion', 'def ', 'the ', 'Ж', '\u00a0'];
  const next = seededRandom(seed);
  return Array.from({ length: n }, () => Array.from({ length: 1 + Math.floor(next() * 24) }, () => pool[Math.floor(next() * pool.length)]!).join(''));
}

const ALL = [...TEXTS, ...randomTexts(200, 22)];
const writeFolder = (files: Record<string, string | Uint8Array>): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'resect-spm-'));
  for (const [name, data] of Object.entries(files)) writeFileSync(path.join(dir, name), data);
  return dir;
};

describe("LLaMA's tokenizer.model (32,000 pieces, BPE, byte fallback)", () => {
  const bytes = encodeSentencePieceModel(llamaSentencePieceModel());
  let tok: TextTokenizer;
  let sp: SentencePieceProcessor;
  beforeAll(async () => {
    tok = await loadTokenizer(writeFolder({ 'tokenizer.model': bytes, 'tokenizer_config.json': JSON.stringify(PUBLISHED_TOKENIZER_CONFIG) }));
    sp = new SentencePieceProcessor();
    await sp.loadFromB64StringModel(Buffer.from(bytes).toString('base64'));
  });

  it('parses the protobuf back as written', () => {
    const m = parseSentencePieceModel(bytes);
    expect(m.pieces).toHaveLength(32000);
    expect(m.pieces[0]).toEqual({ piece: '<unk>', score: 0, type: PieceType.UNKNOWN });
    expect(m.pieces[3]!.piece).toBe('<0x00>');
    expect(m.pieces[29871]).toMatchObject({ piece: '▁', type: PieceType.NORMAL });
    expect(m.trainer).toMatchObject({ modelType: ModelType.BPE, byteFallback: true, unkId: 0, bosId: 1, eosId: 2, padId: -1 });
    expect(m.normalizer).toMatchObject({ name: 'identity', addDummyPrefix: true, removeExtraWhitespaces: false });
  });

  it('encodes and decodes exactly like SentencePiece itself over varied and random text', () => {
    expect(tok.vocabSize).toBe(32000);
    for (const text of ALL) {
      const ids = tok.encode(text, { addBos: false });
      expect(ids, JSON.stringify(text)).toEqual(sp.encodeIds(text));
      expect(tok.decode(ids), JSON.stringify(text)).toBe(sp.decodeIds(Int32Array.from(ids)));
    }
  });

  it('agrees with llama-tokenizer-js (its encoder is exact except on runs of spaces, a leading space included)', () => {
    const llama = new LlamaTokenizer();
    // llama-tokenizer-js documents equal-priority space merges as its own approximation; SentencePiece is checked above.
    for (const text of ALL.filter((t) => !/ {2}|^ /.test(t))) { // (a leading space is a run too: dummy prefix + space)
      expect(tok.encode(text, { addBos: false }), JSON.stringify(text)).toEqual(llama.encode(text, false));
    }
    expect(tok.encode('Hello world')).toEqual(llama.encode('Hello world', true));
  });

  it('known ids of Meta\'s vocabulary: BOS once, byte fallback, digits split, special spellings are special tokens', () => {
    expect([tok.bosId, tok.eosId, tok.addBos, tok.addEos]).toEqual([1, 2, true, false]);
    expect(tok.encode('Hello world')).toEqual([1, 15043, 3186]);
    // 🦀 U+1F980 = F0 9F A6 80: byte pieces 3 + byte.
    expect(tok.encode('🦀', { addBos: false })).toEqual([29871, 3 + 0xf0, 3 + 0x9f, 3 + 0xa6, 3 + 0x80]);
    expect(tok.encode('2024', { addBos: false }).map((id) => tok.idToToken(id))).toEqual(['▁', '2', '0', '2', '4']);
    // As transformers does with the converted tokenizer: "<s>" typed in the text is the BOS token (SentencePiece
    // itself would spell it out); skipSpecialTokens drops it on decode.
    expect(tok.encode('a</s>b', { addBos: false })).toEqual([...tok.encode('a', { addBos: false }), 2, ...tok.encode('b', { addBos: false })]);
    expect(tok.decode(tok.encode('Hi</s>'), { skipSpecialTokens: true })).toBe('Hi');
    expect(tok.decode(tok.encode('  two  spaces'), { skipSpecialTokens: true })).toBe('  two  spaces');
  });
});

describe('the tiny fixture tokenizer.model (97 pieces, no byte fallback)', () => {
  it('matches SentencePiece, unknown characters included', async () => {
    const bytes = encodeSentencePieceModel(tinySentencePieceModel());
    const tok = await loadTokenizer(writeFolder({ 'tokenizer.model': bytes }));
    const sp = new SentencePieceProcessor();
    await sp.loadFromB64StringModel(Buffer.from(bytes).toString('base64'));
    expect(tok.vocabSize).toBe(97);
    for (const text of [...TEXTS.slice(0, 12), 'the thing is on', 'Ω unknown ñ', 'the  the']) {
      expect(tok.encode(text, { addBos: false }), JSON.stringify(text)).toEqual(sp.encodeIds(text));
    }
    expect(tok.encode('the').map((id) => tok.idToToken(id))).toEqual(['<s>', '▁the']);
  });
});

describe('tokenizer_config.json, special_tokens_map.json and chat templates', () => {
  const model = encodeSentencePieceModel(tinySentencePieceModel());

  it('add_bos_token / add_eos_token are honoured, and special_tokens_map.json names tokens the config omits', async () => {
    const noBos = await loadTokenizer(writeFolder({ 'tokenizer.model': model, 'tokenizer_config.json': JSON.stringify({ add_bos_token: false, add_eos_token: true }), 'special_tokens_map.json': JSON.stringify({ bos_token: { content: '<s>' }, eos_token: '</s>' }) }));
    expect([noBos.bosId, noBos.eosId, noBos.addBos, noBos.addEos]).toEqual([1, 2, false, true]);
    expect(noBos.encode('on')).toEqual([noBos.tokenToId('▁'), noBos.tokenToId('on'), 2]);
    expect(noBos.encode('on', { addBos: true, addEos: false })).toEqual([1, noBos.tokenToId('▁'), noBos.tokenToId('on')]);
    // The config wins over the map where both name a token.
    const configWins = await loadTokenizer(writeFolder({ 'tokenizer.model': model, 'tokenizer_config.json': JSON.stringify({ eos_token: '<unk>' }), 'special_tokens_map.json': JSON.stringify({ eos_token: '</s>' }) }));
    expect(configWins.eosId).toBe(0);
    // config.json's ids win over both (loadMonetTokenizer passes them).
    expect((await loadTokenizer(writeFolder({ 'tokenizer.model': model }), { bosTokenId: 2 })).bosId).toBe(2);
  });

  it('a chat template is rendered with @huggingface/jinja, BOS not doubled when the template writes it', async () => {
    const template = "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}User: {{ m.content }}{% else %} Bot: {{ m.content }}{{ eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %} Bot:{% endif %}";
    const chat = await loadTokenizer(writeFolder({ 'tokenizer.model': model, 'tokenizer_config.json': JSON.stringify({ ...PUBLISHED_TOKENIZER_CONFIG, chat_template: [{ name: 'default', template }, { name: 'tool_use', template: 'x' }] }) }));
    expect(chat.chatTemplate).toBe(template);
    const messages = [{ role: 'user' as const, content: 'hi' }, { role: 'assistant' as const, content: 'on' }, { role: 'user' as const, content: 'the end' }];
    const text = '<s>User: hi Bot: on</s>User: the end Bot:';
    expect(chat.applyChatTemplate(messages)).toBe(text);
    expect(chat.applyChatTemplate(messages, { addGenerationPrompt: false })).toBe('<s>User: hi Bot: on</s>User: the end');
    const ids = chat.encodeChat(messages);
    expect(ids.filter((id) => id === 1)).toHaveLength(1); // the template's <s>, not a second one from add_bos_token
    expect(ids).toEqual(chat.encode(text, { addBos: false }));
    expect(ids.filter((id) => id === 2)).toHaveLength(1);
    const base = await loadTokenizer(writeFolder({ 'tokenizer.model': model }));
    expect(base.chatTemplate).toBeNull();
    expect(() => base.applyChatTemplate(messages)).toThrow(/no chat template/);
    // A prompt: one user turn through the template on a chat model (unless told not to), the plain text on a base model.
    expect(encodePrompt(chat, 'hi')).toEqual(chat.encode('<s>User: hi Bot:', { addBos: false }));
    expect(encodePrompt(chat, 'hi', false)).toEqual(chat.encode('hi'));
    expect(encodePrompt(base, 'hi')).toEqual(base.encode('hi'));
    expect(() => encodePrompt(base, 'hi', true)).toThrow(/no chat template/);
  });

  it('refuses what it cannot read, with the reason', async () => {
    await expect(loadTokenizer(writeFolder({ 'config.json': '{}' }))).rejects.toThrow(/no tokenizer \(neither tokenizer.json nor tokenizer.model\)/);
    await expect(loadTokenizer(writeFolder({ 'tokenizer.model': new Uint8Array([0xff, 0xff, 0xff]) }))).rejects.toThrow(/tokenizer.model: not a SentencePiece model/);
    const unigram = tinySentencePieceModel();
    unigram.trainer.modelType = ModelType.UNIGRAM;
    await expect(loadTokenizer(writeFolder({ 'tokenizer.model': encodeSentencePieceModel(unigram) }))).rejects.toThrow(TokenizerError);
    await expect(loadTokenizer(writeFolder({ 'tokenizer.model': encodeSentencePieceModel(unigram) }))).rejects.toThrow(/a SentencePiece UNIGRAM model; only BPE/);
  });
});
