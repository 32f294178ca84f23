/**
 * Byte-level helpers: UTF-8 decoding that reports where it fails, line splitting over a stream of chunks.
 * Work happens on bytes because every structural character of JSONL, CSV and JSON (newline, quote, comma,
 * brackets) is ASCII and never occurs inside a multi-byte UTF-8 sequence, so records can be cut out of the raw
 * stream first and decoded one by one: a bad byte spoils one record, not the file.
 */

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class Utf8Error extends Error {
  constructor(readonly index: number) {
    super(`invalid UTF-8 at byte ${index}`);
  }
}

/** Decodes UTF-8 strictly; throws Utf8Error with the index of the first invalid byte. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    throw new Utf8Error(invalidUtf8Index(bytes));
  }
}

/** Index of the first byte that starts an invalid UTF-8 sequence, or -1 when the bytes are valid. */
export function invalidUtf8Index(b: Uint8Array): number {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

export function concatBytes(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface RawLine {
  bytes: Uint8Array;
  /** 1-based line number. */
  line: number;
  /** Byte offset of the line's first byte in the stream. */
  offset: number;
}

export class RecordTooLargeError extends Error {}

/**
 * Splits a byte stream into lines (LF or CRLF; a trailing CR is removed; a UTF-8 BOM at the start is removed).
 * Yields the lines of each chunk as one batch. A line longer than maxLineBytes throws RecordTooLargeError.
 */
export async function* splitLines(chunks: AsyncIterable<Uint8Array>, maxLineBytes: number): AsyncGenerator<RawLine[]> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let line = 1;
  let offset = 0; // offset of the current (pending) line start
  let streamPos = 0;
  let first = true;
  for await (let chunk of chunks) {
    if (first && chunk.length > 0) {
      first = false;
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
        chunk = chunk.subarray(3);
        streamPos = 3;
        offset = 3;
      }
    }
    const out: RawLine[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      let bytes: Uint8Array;
      if (pendingBytes > 0) {
        pending.push(piece);
        bytes = concatBytes(pending, pendingBytes + piece.length);
        pending = [];
        pendingBytes = 0;
      } else bytes = piece;
      if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
      if (bytes.length > maxLineBytes) throw new RecordTooLargeError(`line ${line} is longer than ${maxLineBytes} bytes`);
      out.push({ bytes, line, offset });
      line++;
      offset = streamPos + nl + 1;
      start = nl + 1;
    }
    if (start < chunk.length) {
      // Copy: the chunk's buffer may be reused by the stream.
      const rest = chunk.slice(start);
      pending.push(rest);
      pendingBytes += rest.length;
      if (pendingBytes > maxLineBytes) throw new RecordTooLargeError(`line ${line} is longer than ${maxLineBytes} bytes`);
    }
    streamPos += chunk.length;
    if (out.length > 0) yield out;
  }
  if (pendingBytes > 0) {
    let bytes = concatBytes(pending, pendingBytes);
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    yield [{ bytes, line, offset }];
  }
}

/** Line number and column (1-based, in bytes) of a byte index within a multi-line record. */
export function lineColumnAt(bytes: Uint8Array, index: number, firstLine: number): { line: number; column: number } {
  let line = firstLine;
  let lineStart = 0;
  for (let i = 0; i < index; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}
