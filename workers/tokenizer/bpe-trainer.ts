// Byte-level BPE training (GPT-2 style) that writes a Hugging Face `tokenizer.json`.
//
// 1. Pre-tokenize every text with the GPT-2 regex (workers/tokenizer/pretokenize.ts) and count distinct pieces.
// 2. Each distinct piece becomes a "word": its UTF-8 bytes as symbols (ids 0..255), with the piece's count.
// 3. Count adjacent symbol pairs over all words (weighted by word count), remember which words hold each pair,
//    and keep the pairs in a max-heap ordered by (count desc, left id asc, right id asc) — deterministic ties.
// 4. Repeatedly pop the best pair, create the merged symbol, rewrite only the words that contain the pair, and
//    apply the resulting pair-count deltas; the heap is updated lazily (a popped entry whose count is stale is
//    pushed back with its current count). No full recount per merge.
//
// Vocabulary layout of the output: special tokens first (ids 0..k-1), then the 256 byte symbols in byte order,
// then one token per merge in merge order.
import { byteLevelEncode, bytesToUnicode, preTokenize, splitOutSpecials } from './pretokenize';

export interface BpeTrainerOptions {
  /** Final vocabulary size including special tokens and the 256 byte tokens (e.g. 4096–8192). */
  vocabSize: number;
  /** Special tokens, given ids 0..k-1 in this order. Default: ['<|endoftext|>']. */
  specialTokens?: string[];
  /** Pairs seen fewer times than this are never merged (training may then stop below vocabSize). Default 2. */
  minFrequency?: number;
  /** Progress and timing lines (e.g. console.log). */
  log?: (message: string) => void;
}

export interface BpeTrainResult {
  specialTokens: string[];
  /** Token strings (byte-level form) in id order. */
  vocab: string[];
  /** Merges in rank order, as pairs of byte-level token strings. */
  merges: [string, string][];
  /** For each merge, the vocabulary size right after it (merges can re-create an existing string). */
  vocabSizeAfterMerge: number[];
  stats: { texts: number; chars: number; pieces: number; distinctPieces: number };
  timings: { pretokenizeMs: number; initMs: number; mergeMs: number; totalMs: number };
}

const KEY_BASE = 1 << 21; // symbol ids stay below 2^21, so a pair key a*2^21+b is an exact double

/** Binary max-heap of (count, pairKey); larger count first, then smaller key (left id, then right id). */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i] as number;
    const cj = this.counts[j] as number;
    return ci > cj || (ci === cj && (this.keys[i] as number) < (this.keys[j] as number));
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i] as number;
    this.counts[i] = this.counts[j] as number;
    this.counts[j] = c;
    const k = this.keys[i] as number;
    this.keys[i] = this.keys[j] as number;
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Returns [count, key] of the top and removes it. */
  pop(): [number, number] | undefined {
    const n = this.counts.length;
    if (n === 0) return undefined;
    const top: [number, number] = [this.counts[0] as number, this.keys[0] as number];
    const lastC = this.counts.pop() as number;
    const lastK = this.keys.pop() as number;
    if (n > 1) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      let i = 0;
      const m = n - 1;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < m && this.above(l, best)) best = l;
        if (r < m && this.above(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/** Counts GPT-2 pre-tokenization pieces over `texts` (special-token occurrences are cut out first). */
export function countPieces(texts: Iterable<string>, specials: readonly string[]): {
  counts: Map<string, number>; texts: number; chars: number; pieces: number;
} {
  const counts = new Map<string, number>();
  let nTexts = 0;
  let chars = 0;
  let pieces = 0;
  for (const text of texts) {
    nTexts++;
    chars += text.length;
    for (const part of splitOutSpecials(text, specials)) {
      for (const piece of preTokenize(part)) {
        pieces++;
        counts.set(piece, (counts.get(piece) ?? 0) + 1);
      }
    }
  }
  return { counts, texts: nTexts, chars, pieces };
}

export function trainBpe(texts: Iterable<string>, options: BpeTrainerOptions): BpeTrainResult {
  const specialTokens = options.specialTokens ?? ['<|endoftext|>'];
  const minFrequency = Math.max(1, options.minFrequency ?? 2);
  const log = options.log ?? (() => {});
  if (new Set(specialTokens).size !== specialTokens.length) throw new Error('duplicate special tokens');
  const base = specialTokens.length + 256;
  if (options.vocabSize < base) throw new Error(`vocabSize ${options.vocabSize} < ${base} (specials + 256 bytes)`);
  if (options.vocabSize >= KEY_BASE) throw new Error(`vocabSize must be < ${KEY_BASE}`);

  const t0 = performance.now();
  const counted = countPieces(texts, specialTokens);
  const t1 = performance.now();
  log(`pre-tokenized ${counted.texts} texts (${counted.chars} chars) into ${counted.pieces} pieces, ` +
    `${counted.counts.size} distinct, in ${((t1 - t0) / 1000).toFixed(2)} s`);

  // Words: byte symbols (internal ids: bytes 0..255, merged symbols 256+) and counts.
  const encoder = new TextEncoder();
  const words: Int32Array[] = [];
  const freqs: number[] = [];
  for (const [piece, count] of counted.counts) {
    const bytes = encoder.encode(piece);
    if (bytes.length < 2) continue;
    words.push(Int32Array.from(bytes));
    freqs.push(count);
  }
  const pairCounts = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  for (let w = 0; w < words.length; w++) {
    const sym = words[w] as Int32Array;
    const f = freqs[w] as number;
    for (let i = 0; i + 1 < sym.length; i++) {
      const key = (sym[i] as number) * KEY_BASE + (sym[i + 1] as number);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + f);
      let set = where.get(key);
      if (!set) where.set(key, (set = new Set()));
      set.add(w);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCounts) heap.push(c, key);
  const t2 = performance.now();
  log(`initial pairs: ${pairCounts.size} over ${words.length} words in ${((t2 - t1) / 1000).toFixed(2)} s`);

  // Internal symbol strings (byte-level form) and the output vocabulary.
  const byteChars = bytesToUnicode();
  const symbolText: string[] = byteChars.slice();
  const tokenId = new Map<string, number>(); // byte-level string -> internal symbol id
  byteChars.forEach((c, b) => tokenId.set(c, b));
  for (const s of specialTokens) {
    if (tokenId.has(s)) throw new Error(`special token ${JSON.stringify(s)} collides with a byte token`);
  }
  const merges: [string, string][] = [];
  const vocabSizeAfterMerge: number[] = [];
  let vocabLen = base;

  while (vocabLen < options.vocabSize) {
    const top = heap.pop();
    if (!top) break;
    const [c, key] = top;
    const current = pairCounts.get(key) ?? 0;
    if (c !== current) {
      if (current > 0) heap.push(current, key);
      continue;
    }
    if (c < minFrequency) break;
    const a = Math.floor(key / KEY_BASE);
    const b = key - a * KEY_BASE;
    const text = (symbolText[a] as string) + (symbolText[b] as string);
    let n = tokenId.get(text);
    if (n === undefined) {
      n = symbolText.length;
      symbolText.push(text);
      tokenId.set(text, n);
      vocabLen++;
    }
    merges.push([symbolText[a] as string, symbolText[b] as string]);
    vocabSizeAfterMerge.push(vocabLen);

    // Rewrite the words holding (a, b); collect pair-count deltas.
    const delta = new Map<number, number>();
    const holders = where.get(key);
    where.delete(key);
    pairCounts.delete(key);
    if (holders) {
      for (const w of holders) {
        const sym = words[w] as Int32Array;
        const len = sym.length;
        let found = false;
        for (let i = 0; i + 1 < len; i++) {
          if (sym[i] === a && sym[i + 1] === b) {
            found = true;
            break;
          }
        }
        if (!found) continue; // stale entry: the word lost this pair to an earlier merge
        const out = new Int32Array(len);
        let j = 0;
        for (let i = 0; i < len; ) {
          if (i + 1 < len && sym[i] === a && sym[i + 1] === b) {
            out[j++] = n;
            i += 2;
          } else out[j++] = sym[i++] as number;
        }
        const next = out.slice(0, j);
        words[w] = next;
        const f = freqs[w] as number;
        for (let i = 0; i + 1 < len; i++) {
          const k = (sym[i] as number) * KEY_BASE + (sym[i + 1] as number);
          if (k !== key) delta.set(k, (delta.get(k) ?? 0) - f);
        }
        for (let i = 0; i + 1 < j; i++) {
          const l = next[i] as number;
          const r = next[i + 1] as number;
          const k = l * KEY_BASE + r;
          if (k === key) continue;
          delta.set(k, (delta.get(k) ?? 0) + f);
          if (l === n || r === n) {
            let set = where.get(k);
            if (!set) where.set(k, (set = new Set()));
            set.add(w);
          }
        }
      }
    }
    for (const [k, d] of delta) {
      if (d === 0) continue;
      const updated = (pairCounts.get(k) ?? 0) + d;
      if (updated <= 0) {
        pairCounts.delete(k);
        where.delete(k);
      } else {
        pairCounts.set(k, updated);
        if (d > 0) heap.push(updated, k);
      }
    }
    if (merges.length % 1000 === 0) {
      log(`  ${merges.length} merges, vocab ${vocabLen}, last ${JSON.stringify(text)} x${c}, ` +
        `${((performance.now() - t2) / 1000).toFixed(1)} s`);
    }
  }
  const t3 = performance.now();
  log(`${merges.length} merges (vocab ${vocabLen}) in ${((t3 - t2) / 1000).toFixed(2)} s; ` +
    `total ${((t3 - t0) / 1000).toFixed(2)} s`);

  return {
    specialTokens: specialTokens.slice(),
    vocab: [...specialTokens, ...symbolText],
    merges,
    vocabSizeAfterMerge,
    stats: { texts: counted.texts, chars: counted.chars, pieces: counted.pieces, distinctPieces: counted.counts.size },
    timings: { pretokenizeMs: t1 - t0, initMs: t2 - t1, mergeMs: t3 - t2, totalMs: t3 - t0 },
  };
}

/**
 * The same tokenizer trained only up to `vocabSize` (greedy BPE training is sequential, so this is exactly what
 * training with the smaller size gives).
 */
export function truncateVocab(result: BpeTrainResult, vocabSize: number): BpeTrainResult {
  const base = result.specialTokens.length + 256;
  if (vocabSize < base) throw new Error(`vocabSize ${vocabSize} < ${base}`);
  let m = 0;
  while (m < result.merges.length && (m === 0 ? base : (result.vocabSizeAfterMerge[m - 1] as number)) < vocabSize) m++;
  const finalSize = m === 0 ? base : (result.vocabSizeAfterMerge[m - 1] as number);
  return {
    ...result,
    vocab: result.vocab.slice(0, finalSize),
    merges: result.merges.slice(0, m),
    vocabSizeAfterMerge: result.vocabSizeAfterMerge.slice(0, m),
  };
}

export interface TokenizerJsonOptions {
  /** Roles of special tokens for tokenizer_config.json; each defaults to the first special token. */
  bosToken?: string | null;
  eosToken?: string | null;
  padToken?: string | null;
  unkToken?: string | null;
  modelMaxLength?: number;
}

/** A Hugging Face `tokenizer.json` object (BPE model, ByteLevel pre-tokenizer / post-processor / decoder). */
export function toTokenizerJson(result: BpeTrainResult): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  result.vocab.forEach((t, i) => {
    vocab[t] = i;
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: result.specialTokens.map((content, id) => ({
      id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      // "left right" strings: the format every tokenizers version reads (byte-level tokens never contain a space).
      merges: result.merges.map(([l, r]) => `${l} ${r}`),
    },
  };
}

/**
 * The `tokenizer_config.json` that goes beside tokenizer.json. `clean_up_tokenization_spaces: false` matters:
 * with the default (true) transformers and tokenizers.js rewrite " ." to "." on decode, which breaks round trips.
 */
export function toTokenizerConfig(result: BpeTrainResult, opts: TokenizerJsonOptions = {}): Record<string, unknown> {
  const first = result.specialTokens[0] ?? null;
  const role = (v: string | null | undefined) => (v === undefined ? first : v);
  for (const v of [opts.bosToken, opts.eosToken, opts.padToken, opts.unkToken]) {
    if (v && !result.specialTokens.includes(v)) throw new Error(`${v} is not a special token`);
  }
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: role(opts.bosToken),
    eos_token: role(opts.eosToken),
    pad_token: role(opts.padToken),
    unk_token: role(opts.unkToken),
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
    model_max_length: opts.modelMaxLength ?? 2048,
  };
}

/** Convenience: byte-level form of a string, re-exported for callers that inspect vocabularies. */
export { byteLevelEncode };
