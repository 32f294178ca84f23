// GPT-2 style byte-level pre-tokenization, identical to what a Hugging Face `ByteLevel` pre-tokenizer with
// `use_regex: true` does (and to what @huggingface/tokenizers runs when it loads our tokenizer.json):
//   1. split the text with the GPT-2 regex,
//   2. map every UTF-8 byte of each piece to a printable code point (the "bytes to unicode" table).

/** The GPT-2 split pattern (same source as the Rust `tokenizers` ByteLevel pre-tokenizer and tokenizers.js). */
export const GPT2_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

export function gpt2SplitRegex(): RegExp {
  return new RegExp(GPT2_SPLIT_PATTERN, 'gu');
}

/**
 * GPT-2's reversible byte → code point table: printable Latin-1 bytes map to themselves, the other 68 bytes
 * (controls, space, DEL, NBSP, soft hyphen…) to U+0100 onwards, so every byte becomes one visible character.
 */
export function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const table = new Array<string>(256);
  const kept = new Set(keep);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = kept.has(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  }
  return table;
}

const BYTE_TO_CHAR = bytesToUnicode();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** The byte-level form of a string: one mapped character per UTF-8 byte. */
export function byteLevelEncode(text: string): string {
  let out = '';
  for (const b of encoder.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/** Inverse of byteLevelEncode (invalid UTF-8 sequences decode to U+FFFD). */
export function byteLevelDecode(mapped: string): string {
  const bytes: number[] = [];
  for (const ch of mapped) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) throw new Error(`not a byte-level character: U+${ch.codePointAt(0)?.toString(16)}`);
    bytes.push(b);
  }
  return decoder.decode(new Uint8Array(bytes));
}

/** The GPT-2 regex pieces of `text` (their concatenation is `text`). */
export function preTokenize(text: string): string[] {
  return text.match(gpt2SplitRegex()) ?? [];
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Splits `text` around occurrences of special tokens (which are never merged with ordinary text) and returns the
 * ordinary stretches only.
 */
export function splitOutSpecials(text: string, specials: readonly string[]): string[] {
  if (specials.length === 0) return [text];
  const re = new RegExp([...specials].sort((a, b) => b.length - a.length).map(escapeRegex).join('|'), 'g');
  return text.split(re).filter((s) => s.length > 0);
}
