/**
 * Binary content is refused whatever a file is named: an executable, an image or an archive renamed `.txt` would
 * otherwise import as lines of mojibake (each invalid line an encoding issue, the few "valid" ones as samples).
 * The first bytes of every text-format file (after gunzip) are looked at before any record is read.
 */

/** How many leading bytes decide. */
export const SNIFF_BYTES = 8192;

export class BinaryContentError extends Error {
  override readonly name = 'BinaryContentError';
}

/** Signatures of common binary files, for a message that names what the file is. */
const MAGIC: { bytes: number[]; what: string }[] = [
  { bytes: [0x7f, 0x45, 0x4c, 0x46], what: 'an ELF executable' },
  { bytes: [0x4d, 0x5a], what: 'a Windows executable' },
  { bytes: [0x89, 0x50, 0x4e, 0x47], what: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], what: 'a JPEG image' },
  { bytes: [0x47, 0x49, 0x46, 0x38], what: 'a GIF image' },
  { bytes: [0x25, 0x50, 0x44, 0x46], what: 'a PDF document' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], what: 'a ZIP archive (or an Office document)' },
  { bytes: [0x1f, 0x8b], what: 'gzip-compressed data (add .gz to its name to import it)' },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], what: 'zstd-compressed data' },
  { bytes: [0x42, 0x5a, 0x68], what: 'bzip2-compressed data' },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'xz-compressed data' },
  { bytes: [0x50, 0x41, 0x52, 0x31], what: 'a Parquet file (name it .parquet to import it)' },
  { bytes: [0x53, 0x51, 0x4c, 0x69, 0x74, 0x65], what: 'an SQLite database' },
];

/**
 * What the bytes are when they are not text, or null when they read as text. Text here: no NUL byte (UTF-16 text is
 * not supported either, and says so) and at most 10 % C0 control characters other than tab, newline, carriage
 * return and form feed.
 */
export function binaryKind(head: Uint8Array): string | null {
  for (const m of MAGIC) if (m.bytes.length <= head.length && m.bytes.every((b, k) => head[k] === b)) return m.what;
  if (head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))) return 'UTF-16 text (save it as UTF-8)';
  let controls = 0;
  for (let i = 0; i < head.length; i++) {
    const c = head[i]!;
    if (c === 0) return 'binary data (it holds NUL bytes)';
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c && c !== 0x1b) controls++;
  }
  return head.length > 0 && controls / head.length > 0.1 ? 'binary data (control bytes)' : null;
}

/** Passes chunks through once their first SNIFF_BYTES read as text; throws BinaryContentError otherwise. */
export async function* refuseBinary(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const held: Uint8Array[] = [];
  let size = 0;
  let decided = false;
  const decide = () => {
    const head = new Uint8Array(Math.min(size, SNIFF_BYTES));
    let at = 0;
    for (const c of held) {
      if (at >= head.length) break;
      const part = c.subarray(0, head.length - at);
      head.set(part, at);
      at += part.length;
    }
    const kind = binaryKind(head);
    if (kind) throw new BinaryContentError(`the file holds ${kind}, not text: refused whatever it is named`);
    decided = true;
  };
  for await (const chunk of chunks) {
    if (decided) {
      yield chunk;
      continue;
    }
    held.push(chunk);
    size += chunk.length;
    if (size < SNIFF_BYTES) continue;
    decide();
    yield* held;
    held.length = 0;
  }
  if (!decided) {
    decide();
    yield* held;
  }
}
