/**
 * A token as a person should read it in a list (promoted / suppressed tokens, vocab.json of an atlas). Decoding one
 * token alone turns a partial UTF-8 sequence (the first byte of "—", say) into U+FFFD, so every such token would
 * read "�". Here those bytes are shown as byte tokens instead, `<0xE2>`, as SentencePiece's byte fallback names them:
 * text for the bytes that form whole characters, `<0xXX>` for the rest.
 */
import type { TextTokenizer } from './index';

/** GPT-2's byte-level alphabet: each byte is written as one printable character (bytes_to_unicode). */
let byteOfChar: Map<string, number> | null = null;
function byteLevelAlphabet(): Map<string, number> {
  if (byteOfChar) return byteOfChar;
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const map = new Map<string, number>();
  for (const b of printable) map.set(String.fromCharCode(b), b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) map.set(String.fromCharCode(256 + n++), b);
  return (byteOfChar = map);
}

const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/** Length of the valid UTF-8 sequence starting at `at`, or 0 when the bytes there do not form one. */
function utf8Length(bytes: Uint8Array, at: number): number {
  const b = bytes[at]!;
  const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  if (n === 0 || at + n > bytes.length) return 0;
  for (let k = 1; k < n; k++) if ((bytes[at + k]! & 0xc0) !== 0x80) return 0;
  // Overlong, surrogate and out-of-range forms are not characters either.
  const c1 = bytes[at + 1] ?? 0;
  if (n === 3 && ((b === 0xe0 && c1 < 0xa0) || (b === 0xed && c1 >= 0xa0))) return 0;
  if (n === 4 && ((b === 0xf0 && c1 < 0x90) || (b === 0xf4 && c1 >= 0x90))) return 0;
  return n;
}

/** Bytes as text where they form whole UTF-8 characters, `<0xXX>` where they do not. */
export function bytesLabel(bytes: Uint8Array): string {
  let out = '';
  const decoder = new TextDecoder('utf-8');
  for (let at = 0; at < bytes.length;) {
    const n = utf8Length(bytes, at);
    if (n === 0) {
      out += hex(bytes[at]!);
      at++;
    } else {
      out += decoder.decode(bytes.subarray(at, at + n));
      at += n;
    }
  }
  return out;
}

/** The bytes a byte-level BPE token string stands for, or null when it is not written in that alphabet. */
export function byteLevelBytes(token: string): Uint8Array | null {
  const alphabet = byteLevelAlphabet();
  const out: number[] = [];
  for (const ch of token) {
    const b = alphabet.get(ch);
    if (b === undefined) return null;
    out.push(b);
  }
  return Uint8Array.from(out);
}

/** How to show token `id`: its decoded text, or byte tokens for the bytes that are not whole characters. */
export function tokenLabel(tok: Pick<TextTokenizer, 'decode' | 'idToToken'>, id: number): string {
  let decoded: string;
  try {
    decoded = tok.decode([id]);
  } catch {
    return tok.idToToken(id) ?? `<${id}>`;
  }
  if (!decoded.includes('\uFFFD')) return decoded;
  const raw = tok.idToToken(id);
  if (raw === undefined) return decoded;
  if (/^<0x[0-9A-Fa-f]{2}>$/.test(raw)) return `<0x${raw.slice(3, 5).toUpperCase()}>`; // SentencePiece byte fallback
  const bytes = byteLevelBytes(raw);
  return bytes ? bytesLabel(bytes) : decoded;
}
