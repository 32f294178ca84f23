import { Tokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseJsonl, type Sample } from '../../scripts/corpus/lib';
import {
  countPieces, toTokenizerConfig, toTokenizerJson, trainBpe, truncateVocab, type BpeTrainResult,
} from '../../workers/tokenizer/bpe-trainer';
import { byteLevelDecode, byteLevelEncode, bytesToUnicode, preTokenize } from '../../workers/tokenizer/pretokenize';

const train = parseJsonl(gunzipSync(readFileSync('assets/corpus/train.jsonl.gz')).toString('utf8'));
const heldout = parseJsonl(readFileSync('assets/corpus/heldout.jsonl', 'utf8'));
const english = (xs: Sample[]) => xs.filter((s) => s.domain === 'news' || s.domain === 'fiction').map((s) => s.text);
const smallMixed = train.slice(0, 400).map((s) => s.text);

const load = (r: BpeTrainResult) => new Tokenizer(toTokenizerJson(r), toTokenizerConfig(r));

const VARIED = [
  'Hello, world! The quick brown fox jumps over the lazy dog.',
  'Emoji: 👩‍👩‍👧‍👦 🎉🔥 ok 🇫🇷 — and “curly quotes”, naïve café, Ünïcödé, Ελληνικά, русский, 日本語のテキスト, 한국어, עברית, العربية.',
  'def f(x):\n\tif x > 0:\n\t\treturn x ** 2  # square\n    return None\r\n\r\n',
  'const a = `${b}`;\n   // trailing spaces   \n\n\n\t\t}\n',
  '.foo > .bar::after { content: "\\201C"; margin: 0 -1px !important; }',
  'numbers 3.14159 1,000,000 0xDEADBEEF 2024-11-25T23:59:59Z',
  "it's they're we've I'm you'll he'd 'quoted'",
  '   leading and trailing whitespace   ',
  'null\u0000byte, bell\u0007, NBSP\u00a0, soft\u00adhyphen, zero\u200bwidth, combining e\u0301',
  'a<|endoftext|>b <|endoftext|> c',
  ' ',
  '\n',
];

/** Straightforward reference trainer: full recount of pair counts after every merge, same tie-breaking. */
function naiveMerges(texts: string[], vocabSize: number, specials: string[]): [string, string][] {
  const counts = countPieces(texts, specials).counts;
  const bytesChar = bytesToUnicode();
  let words = [...counts].map(([p, c]) => ({ sym: [...new TextEncoder().encode(p)], c })).filter((w) => w.sym.length > 1);
  const text: string[] = bytesChar.slice();
  const id = new Map(text.map((t, i) => [t, i]));
  const merges: [string, string][] = [];
  let vocab = specials.length + 256;
  while (vocab < vocabSize) {
    const pc = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.sym.length; i++) {
      const k = `${w.sym[i]},${w.sym[i + 1]}`;
      pc.set(k, (pc.get(k) ?? 0) + w.c);
    }
    let best: [number, number, number] | null = null;
    for (const [k, c] of pc) {
      const [a, b] = k.split(',').map(Number) as [number, number];
      if (!best || c > best[0] || (c === best[0] && (a < best[1] || (a === best[1] && b < best[2])))) best = [c, a, b];
    }
    if (!best || best[0] < 2) break;
    const [, a, b] = best;
    const t = (text[a] as string) + (text[b] as string);
    let n = id.get(t);
    if (n === undefined) {
      n = text.length;
      text.push(t);
      id.set(t, n);
      vocab++;
    }
    merges.push([text[a] as string, text[b] as string]);
    words = words.map((w) => {
      const out: number[] = [];
      for (let i = 0; i < w.sym.length; ) {
        if (i + 1 < w.sym.length && w.sym[i] === a && w.sym[i + 1] === b) {
          out.push(n);
          i += 2;
        } else out.push(w.sym[i++] as number);
      }
      return { sym: out, c: w.c };
    });
  }
  return merges;
}

describe('byte-level pre-tokenization', () => {
  it('maps the 256 bytes to 256 distinct printable characters and back', () => {
    const table = bytesToUnicode();
    expect(new Set(table).size).toBe(256);
    expect(table[32]).toBe('Ġ');
    expect(table[10]).toBe('Ċ');
    for (const s of VARIED) expect(byteLevelDecode(byteLevelEncode(s))).toBe(s);
  });

  it('splits text into pieces that concatenate back to it', () => {
    for (const s of VARIED) expect(preTokenize(s).join('')).toBe(s);
    expect(preTokenize("Hello world's  end")).toEqual(['Hello', ' world', "'s", ' ', ' end']);
  });
});

describe('BPE trainer', () => {
  const english3k = trainBpe(english(train).slice(0, 600), { vocabSize: 3072 });

  it('respects the vocabulary size and lays ids out as specials, bytes, merges', () => {
    expect(english3k.vocab.length).toBe(3072);
    expect(english3k.vocab[0]).toBe('<|endoftext|>');
    expect(english3k.vocab.slice(1, 257)).toEqual(bytesToUnicode());
    expect(new Set(english3k.vocab).size).toBe(english3k.vocab.length);
    const tok = load(english3k);
    expect(tok.get_vocab(true).size).toBe(3072);
    // minFrequency can stop training early; the size is then below the request, never above.
    const tiny = trainBpe(['abc abc abd'], { vocabSize: 5000 });
    expect(tiny.vocab.length).toBeLessThan(5000);
    expect(tiny.vocab.length).toBeGreaterThan(257);
  });

  it('matches a naive full-recount trainer merge for merge', () => {
    const texts = smallMixed.slice(0, 40);
    const fast = trainBpe(texts, { vocabSize: 600 });
    expect(fast.merges).toEqual(naiveMerges(texts, 600, ['<|endoftext|>']));
  });

  it('is deterministic and independent of text order', () => {
    const a = trainBpe(smallMixed, { vocabSize: 1500 });
    const b = trainBpe(smallMixed, { vocabSize: 1500 });
    const c = trainBpe([...smallMixed].reverse(), { vocabSize: 1500 });
    expect(b.merges).toEqual(a.merges);
    expect(c.merges).toEqual(a.merges);
    expect(JSON.stringify(toTokenizerJson(c))).toBe(JSON.stringify(toTokenizerJson(a)));
    // A smaller vocabulary is a prefix of a larger one.
    const small = trainBpe(smallMixed, { vocabSize: 900 });
    const cut = truncateVocab(a, 900);
    expect(cut.merges).toEqual(small.merges);
    expect(cut.vocab).toEqual(small.vocab);
  });

  it('round-trips arbitrary UTF-8, code and held-out text through @huggingface/tokenizers', () => {
    const tok = load(english3k);
    for (const s of [...VARIED, ...heldout.slice(0, 200).map((x) => x.text)]) {
      const ids = tok.encode(s, { add_special_tokens: false }).ids;
      expect(tok.decode(ids)).toBe(s);
    }
    // The special token is one id; ordinary text never produces it.
    expect(tok.encode('<|endoftext|>').ids).toEqual([0]);
    expect(tok.encode('a <|endoftext|>').ids).toContain(0);
    expect(tok.encode('hello there').ids).not.toContain(0);
  });

  it('encodes training words the way the trainer merged them (merge ranks are consistent)', () => {
    const tok = load(english3k);
    const merged = new Set(english3k.vocab);
    // Frequent words of the training text come out as single tokens.
    for (const w of [' the', ' and', ' of', ' was']) {
      expect(merged.has(byteLevelEncode(w))).toBe(true);
      expect(tok.tokenize(w)).toEqual([byteLevelEncode(w)]);
    }
  });

  it('compresses English: more than 3 characters per token on held-out news and fiction', () => {
    const tok = load(english3k);
    let chars = 0;
    let tokens = 0;
    for (const s of english(heldout)) {
      chars += s.length;
      tokens += tok.encode(s, { add_special_tokens: false }).ids.length;
    }
    expect(chars / tokens).toBeGreaterThan(3);
  });

  it('supports custom special tokens and writes a loadable tokenizer.json', () => {
    const r = trainBpe(smallMixed.slice(0, 50), { vocabSize: 600, specialTokens: ['<s>', '</s>', '<pad>'] });
    const json = toTokenizerJson(r) as { added_tokens: { id: number; content: string }[]; model: { type: string; merges: string[] } };
    expect(json.added_tokens.map((t) => [t.id, t.content])).toEqual([[0, '<s>'], [1, '</s>'], [2, '<pad>']]);
    expect(json.model.type).toBe('BPE');
    expect(json.model.merges.length).toBe(r.merges.length);
    const cfg = toTokenizerConfig(r, { bosToken: '<s>', eosToken: '</s>', padToken: '<pad>', unkToken: null });
    expect(cfg).toMatchObject({ bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', clean_up_tokenization_spaces: false });
    const tok = new Tokenizer(JSON.parse(JSON.stringify(json)), cfg);
    expect(tok.encode('<s>hi</s><pad>').ids).toEqual([0, ...tok.encode('hi').ids, 1, 2]);
    expect(tok.decode(tok.encode('x <s> y').ids)).toBe('x <s> y');
    expect(() => trainBpe(['a'], { vocabSize: 100 })).toThrow();
  });
});

describe('shipped tokenizer (assets/tokenizer)', () => {
  it('loads, has the documented size and round-trips the held-out split', () => {
    const json = JSON.parse(readFileSync('assets/tokenizer/tokenizer.json', 'utf8')) as { model: { vocab: Record<string, number> } };
    const cfg = JSON.parse(readFileSync('assets/tokenizer/tokenizer_config.json', 'utf8')) as object;
    const report = JSON.parse(readFileSync('assets/tokenizer/compression.json', 'utf8')) as { chosenVocabSize: number };
    const tok = new Tokenizer(json, cfg);
    expect(Object.keys(json.model.vocab).length).toBe(report.chosenVocabSize);
    for (const s of [...VARIED, ...heldout.filter((_, i) => i % 4 === 0).map((x) => x.text)]) {
      expect(tok.decode(tok.encode(s, { add_special_tokens: false }).ids)).toBe(s);
    }
  });
});
