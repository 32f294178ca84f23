/**
 * Streaming readers: turn one source file into batches of records (plain JS values) or issues, each with its
 * line (or row) number. Nothing reads a whole file into memory except a text file imported as one sample.
 *
 * - JSONL: a record per line; blank lines are passed over.
 * - JSON: a JSON array, scanned byte by byte for element boundaries (depth, strings, escapes), each element then
 *   decoded and parsed on its own, so a malformed element is one issue, not a lost file. A `.json` file that
 *   does not start with `[` is read as JSONL.
 * - CSV / TSV: RFC 4180 (quoted fields may hold delimiters, doubled quotes and newlines); the first record is
 *   the header; a record with the wrong number of fields is an issue.
 * - TXT: a record per line (blank lines passed over) or the whole file as one record.
 * - Parquet: one row group at a time through hyparquet over a file handle (random-access reads, no whole-file
 *   read); INT64 values become numbers.
 */
import { promises as fsp } from 'node:fs';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { AsyncBuffer } from 'hyparquet';
import { Utf8Error, concatBytes, decodeUtf8, lineColumnAt, splitLines, RecordTooLargeError } from './bytes';
import type { RawLine } from './bytes';
import { openChunks as openRawChunks } from './sources';
import { BinaryContentError, refuseBinary } from './sniff';
import type { ByteCounter, SourceFile } from './sources';
import type { ImportIssue } from './types';

export type ReadItem =
  | { ok: true; value: unknown; line: number }
  /** fatal: the rest of the file cannot be read (truncated JSON, unclosed quote, I/O error). */
  | { ok: false; issue: ImportIssue; fatal?: boolean };

export interface ReadOptions {
  maxRecordBytes: number;
  /** Plain text: a record per line, per blank-line paragraph (code keeps its lines together), or the whole file. */
  textUnit: 'line' | 'paragraph' | 'file';
}

/** Every text format is read through this: binary content is refused before a record is made of it (sniff.ts). */
function openChunks(file: SourceFile, counter: ByteCounter): AsyncIterable<Uint8Array> {
  return refuseBinary(openRawChunks(file, counter));
}

/** Reads one file as batches of records and issues. An empty file yields one 'empty-file' issue. */
export async function* readRecords(file: SourceFile, counter: ByteCounter, opts: ReadOptions): AsyncGenerator<ReadItem[]> {
  let items = 0;
  try {
    for await (const batch of readByFormat(file, counter, opts)) {
      items += batch.length;
      yield batch;
    }
  } catch (err) {
    const known = err instanceof RecordTooLargeError || err instanceof BinaryContentError;
    const msg = known ? (err as Error).message : `could not read: ${(err as Error).message}`;
    const kind = err instanceof BinaryContentError ? 'binary' : err instanceof RecordTooLargeError ? 'parse' : 'io';
    items++;
    yield [{ ok: false, issue: { kind, file: file.display, message: msg }, fatal: true }];
  }
  if (items === 0) yield [{ ok: false, issue: { kind: 'empty-file', file: file.display, message: 'the file holds no records' } }];
}

function readByFormat(file: SourceFile, counter: ByteCounter, opts: ReadOptions): AsyncGenerator<ReadItem[]> {
  switch (file.format) {
    case 'jsonl':
      return readJsonl(file, openChunks(file, counter), opts);
    case 'json':
      return readJson(file, counter, opts);
    case 'csv':
      return readCsv(file, openChunks(file, counter), ',', opts);
    case 'tsv':
      return readCsv(file, openChunks(file, counter), '\t', opts);
    case 'txt':
      if (opts.textUnit === 'file') return readTextFile(file, counter, opts);
      if (opts.textUnit === 'paragraph') return readTextParagraphs(file, openChunks(file, counter), opts);
      return readTextLines(file, openChunks(file, counter), opts);
    case 'parquet':
      return readParquet(file, counter);
  }
}

function encodingIssue(file: SourceFile, bytes: Uint8Array, index: number, firstLine: number, baseOffset: number): ImportIssue {
  const { line, column } = lineColumnAt(bytes, index, firstLine);
  return { kind: 'encoding', file: file.display, line, column, offset: baseOffset + index, message: `invalid UTF-8 at line ${line}, byte column ${column}` };
}

function isBlank(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

function parseLine(file: SourceFile, l: RawLine): ReadItem {
  let s: string;
  try {
    s = decodeUtf8(l.bytes);
  } catch (e) {
    return { ok: false, issue: encodingIssue(file, l.bytes, (e as Utf8Error).index, l.line, l.offset) };
  }
  try {
    return { ok: true, value: JSON.parse(s), line: l.line };
  } catch (e) {
    return { ok: false, issue: { kind: 'parse', file: file.display, line: l.line, message: `malformed JSON at line ${l.line}: ${(e as Error).message}` } };
  }
}

async function* readJsonl(file: SourceFile, chunks: AsyncIterable<Uint8Array>, opts: ReadOptions): AsyncGenerator<ReadItem[]> {
  for await (const lines of splitLines(chunks, opts.maxRecordBytes)) {
    const out: ReadItem[] = [];
    for (const l of lines) if (!isBlank(l.bytes)) out.push(parseLine(file, l));
    if (out.length) yield out;
  }
}

async function* readTextLines(file: SourceFile, chunks: AsyncIterable<Uint8Array>, opts: ReadOptions): AsyncGenerator<ReadItem[]> {
  for await (const lines of splitLines(chunks, opts.maxRecordBytes)) {
    const out: ReadItem[] = [];
    for (const l of lines) {
      try {
        // Blank lines are passed to the mapper as '' and counted as blank there.
        out.push({ ok: true, value: decodeUtf8(l.bytes), line: l.line });
      } catch (e) {
        out.push({ ok: false, issue: encodingIssue(file, l.bytes, (e as Utf8Error).index, l.line, l.offset) });
      }
    }
    if (out.length) yield out;
  }
}

/**
 * A record per paragraph: lines up to the next blank line, joined with their newlines (so code and verse keep their
 * lines); the record's line is the paragraph's first. A line with invalid UTF-8 spoils its paragraph only.
 */
async function* readTextParagraphs(file: SourceFile, chunks: AsyncIterable<Uint8Array>, opts: ReadOptions): AsyncGenerator<ReadItem[]> {
  let lines: string[] = [];
  let first = 0;
  let bytes = 0;
  let bad: ImportIssue | null = null;
  const flush = (): ReadItem | null => {
    const item: ReadItem | null = bad ? { ok: false, issue: bad } : lines.length ? { ok: true, value: lines.join('\n'), line: first } : null;
    lines = [];
    bytes = 0;
    bad = null;
    return item;
  };
  for await (const batch of splitLines(chunks, opts.maxRecordBytes)) {
    const out: ReadItem[] = [];
    for (const l of batch) {
      if (isBlank(l.bytes)) {
        const item = flush();
        if (item) out.push(item);
        continue;
      }
      if (lines.length === 0 && !bad) first = l.line;
      bytes += l.bytes.length + 1;
      if (bytes > opts.maxRecordBytes) throw new RecordTooLargeError(`the paragraph at line ${first} is larger than ${opts.maxRecordBytes} bytes (import the file a line per sample)`);
      try {
        lines.push(decodeUtf8(l.bytes).replace(/\r$/, ''));
      } catch (e) {
        bad ??= encodingIssue(file, l.bytes, (e as Utf8Error).index, l.line, l.offset);
      }
    }
    if (out.length) yield out;
  }
  const last = flush();
  if (last) yield [last];
}

async function* readTextFile(file: SourceFile, counter: ByteCounter, opts: ReadOptions): AsyncGenerator<ReadItem[]> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const c of openChunks(file, counter)) {
    total += c.length;
    if (total > opts.maxRecordBytes) throw new RecordTooLargeError(`the file is larger than ${opts.maxRecordBytes} bytes (import it a line per sample)`);
    parts.push(c);
  }
  if (total === 0) return;
  let bytes = concatBytes(parts, total);
  let base = 0;
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    bytes = bytes.subarray(3);
    base = 3;
  }
  try {
    yield [{ ok: true, value: decodeUtf8(bytes), line: 1 }];
  } catch (e) {
    yield [{ ok: false, issue: encodingIssue(file, bytes, (e as Utf8Error).index, 1, base) }];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON arrays

async function* readJson(file: SourceFile, counter: ByteCounter, opts: ReadOptions): AsyncGenerator<ReadItem[]> {
  const it = openChunks(file, counter)[Symbol.asyncIterator]();
  // Peek at the first non-blank byte: '[' is an array, anything else is read as JSONL.
  const head: Uint8Array[] = [];
  let first = -1;
  for (;;) {
    const r = await it.next();
    if (r.done) break;
    head.push(r.value);
    const c = r.value;
    let i = 0;
    if (head.length === 1 && c.length >= 3 && c[0] === 0xef && c[1] === 0xbb && c[2] === 0xbf) i = 3;
    for (; i < c.length; i++) {
      const b = c[i]!;
      if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) {
        first = b;
        break;
      }
    }
    if (first >= 0) break;
  }
  async function* rest(): AsyncGenerator<Uint8Array> {
    yield* head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  if (first < 0) return; // empty
  if (first !== 0x5b) {
    yield* readJsonl(file, rest(), opts);
    return;
  }
  yield* scanJsonArray(file, rest(), opts.maxRecordBytes);
}

const enum P {
  Start,
  Between,
  Elem,
  After,
  End,
}

/** Finds the elements of a top-level JSON array in a byte stream and parses each one. */
export async function* scanJsonArray(file: SourceFile, chunks: AsyncIterable<Uint8Array>, maxRecordBytes: number): AsyncGenerator<ReadItem[]> {
  let phase = P.Start;
  let line = 1;
  let elemLine = 1;
  let elemOffset = 0;
  let depth = 0;
  let inString = false;
  let escape = false;
  let scalar = false;
  let parts: Uint8Array[] = [];
  let partBytes = 0;
  let pos = 0; // stream offset of the current chunk
  let firstChunk = true;
  const fatal = (message: string): ReadItem => ({ ok: false, issue: { kind: 'parse', file: file.display, line, message }, fatal: true });

  const finishElem = (): ReadItem => {
    const bytes = concatBytes(parts, partBytes);
    parts = [];
    partBytes = 0;
    let s: string;
    try {
      s = decodeUtf8(bytes);
    } catch (e) {
      return { ok: false, issue: encodingIssue(file, bytes, (e as Utf8Error).index, elemLine, elemOffset) };
    }
    try {
      return { ok: true, value: JSON.parse(s), line: elemLine };
    } catch (e) {
      return { ok: false, issue: { kind: 'parse', file: file.display, line: elemLine, message: `malformed JSON element starting at line ${elemLine}: ${(e as Error).message}` } };
    }
  };

  for await (const chunk of chunks) {
    const out: ReadItem[] = [];
    let i = 0;
    if (firstChunk) {
      firstChunk = false;
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
    }
    let elemStart = phase === P.Elem ? 0 : -1;
    const n = chunk.length;
    for (; i < n; i++) {
      if (phase === P.Elem && inString && !escape) {
        // Fast path: jump to the next quote or backslash (raw newlines are invalid inside JSON strings).
        const q = chunk.indexOf(0x22, i);
        const bs = q < 0 ? chunk.indexOf(0x5c, i) : chunk.subarray(i, q).indexOf(0x5c);
        const next = q < 0 ? bs : bs < 0 ? q : i + bs;
        if (next < 0) {
          i = n;
          break;
        }
        i = next;
      }
      const b = chunk[i]!;
      if (b === 0x0a) line++;
      switch (phase) {
        case P.Start:
          if (b === 0x5b) phase = P.Between;
          else if (!isWs(b)) {
            yield [fatal('expected a JSON array')];
            return;
          }
          break;
        case P.Between:
        case P.After:
          if (isWs(b)) break;
          if (b === 0x5d) {
            phase = P.End;
            break;
          }
          if (b === 0x2c) {
            if (phase === P.After) phase = P.Between;
            else {
              yield [...out, fatal(`unexpected ',' at line ${line}`)];
              return;
            }
            break;
          }
          if (phase === P.After) {
            yield [...out, fatal(`expected ',' or ']' at line ${line}`)];
            return;
          }
          // An element starts.
          phase = P.Elem;
          elemStart = i;
          elemLine = line;
          elemOffset = pos + i;
          depth = 0;
          inString = false;
          escape = false;
          scalar = false;
          if (b === 0x7b || b === 0x5b) depth = 1;
          else if (b === 0x22) inString = true;
          else scalar = true;
          break;
        case P.Elem: {
          let done = false;
          let endAt = i + 1;
          if (inString) {
            if (escape) escape = false;
            else if (b === 0x5c) escape = true;
            else if (b === 0x22) {
              inString = false;
              if (depth === 0) done = true;
            }
          } else if (scalar) {
            if (b === 0x2c || b === 0x5d || isWs(b)) {
              done = true;
              endAt = i;
            }
          } else if (b === 0x22) inString = true;
          else if (b === 0x7b || b === 0x5b) depth++;
          else if (b === 0x7d || b === 0x5d) {
            depth--;
            if (depth === 0) done = true;
          }
          if (done) {
            const piece = chunk.subarray(elemStart, endAt);
            parts.push(piece);
            partBytes += piece.length;
            out.push(finishElem());
            phase = P.After;
            elemStart = -1;
            if (endAt === i) {
              // The scalar's terminator is handled as in After.
              if (b === 0x0a) line--;
              i--;
            }
          }
          break;
        }
        case P.End:
          if (!isWs(b)) {
            yield [...out, fatal(`unexpected data after the end of the array at line ${line}`)];
            return;
          }
          break;
      }
    }
    if (phase === P.Elem && elemStart >= 0) {
      const piece = chunk.slice(elemStart);
      parts.push(piece);
      partBytes += piece.length;
      if (partBytes > maxRecordBytes) {
        yield [...out, fatal(`the element starting at line ${elemLine} is larger than ${maxRecordBytes} bytes`)];
        return;
      }
    }
    pos += n;
    if (out.length) yield out;
  }
  if (phase === P.Elem && scalar) {
    yield [finishElem(), fatal('the array is not closed (truncated file?)')];
    return;
  }
  const endPhase = phase as P;
  if (endPhase !== P.End && endPhase !== P.Start) yield [fatal(`the array is not closed (truncated file?) — element starting at line ${elemLine}`)];
}

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

// ---------------------------------------------------------------------------------------------------------------
// CSV / TSV

const lenientDecoder = new TextDecoder('utf-8');

/** Parses CSV records that may span lines; holds its state between lines. */
class CsvRecordParser {
  fields: string[] = [];
  field = '';
  inQuotes = false;
  /** The current field was quoted and its closing quote has been seen. */
  closed = false;
  error: string | null = null;
  constructor(readonly delim: number) {}

  /** Feeds one physical line; returns true when a record is complete. */
  feed(s: string): boolean {
    const d = this.delim;
    let field = this.field;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (this.inQuotes) {
        if (c === 0x22) {
          if (s.charCodeAt(i + 1) === 0x22) {
            field += '"';
            i++;
          } else {
            this.inQuotes = false;
            this.closed = true;
          }
        } else field += s[i];
        continue;
      }
      if (c === d) {
        this.fields.push(field);
        field = '';
        this.closed = false;
      } else if (this.closed) {
        this.error ??= `unexpected character after a closing quote (field ${this.fields.length + 1})`;
      } else if (c === 0x22 && field.length === 0) {
        this.inQuotes = true;
      } else field += s[i]; // a quote inside an unquoted field is kept as is
    }
    if (this.inQuotes) {
      this.field = field + '\n';
      return false;
    }
    this.fields.push(field);
    this.field = '';
    this.closed = false;
    return true;
  }

  reset(): void {
    this.fields = [];
    this.field = '';
    this.inQuotes = false;
    this.closed = false;
    this.error = null;
  }
}

async function* readCsv(file: SourceFile, chunks: AsyncIterable<Uint8Array>, delim: string, opts: ReadOptions): AsyncGenerator<ReadItem[]> {
  const p = new CsvRecordParser(delim.charCodeAt(0));
  let header: string[] | null = null;
  let recLine = 0;
  let recBytes = 0;
  let encoding: ImportIssue | null = null;
  for await (const lines of splitLines(chunks, opts.maxRecordBytes)) {
    const out: ReadItem[] = [];
    for (const l of lines) {
      const starting = !p.inQuotes;
      if (starting) {
        if (l.bytes.length === 0) continue; // blank line between records
        recLine = l.line;
        recBytes = 0;
        encoding = null;
      }
      recBytes += l.bytes.length;
      if (recBytes > opts.maxRecordBytes) {
        yield [...out, { ok: false, issue: { kind: 'parse', file: file.display, line: recLine, message: `the record starting at line ${recLine} is larger than ${opts.maxRecordBytes} bytes (unclosed quote?)` }, fatal: true }];
        return;
      }
      let s: string;
      try {
        s = decodeUtf8(l.bytes);
      } catch (e) {
        encoding ??= encodingIssue(file, l.bytes, (e as Utf8Error).index, l.line, l.offset);
        // Decoded leniently, so the record's boundary is still found.
        s = lenientDecoder.decode(l.bytes);
      }
      if (!p.feed(s)) continue;
      const fields = p.fields;
      const error = p.error;
      p.reset();
      if (header === null) {
        if (encoding || error) {
          yield [...out, { ok: false, issue: encoding ?? { kind: 'parse', file: file.display, line: recLine, message: `malformed header: ${error}` }, fatal: true }];
          return;
        }
        header = uniqueNames(fields.map((f) => f.trim()));
        continue;
      }
      if (encoding) {
        out.push({ ok: false, issue: encoding });
        continue;
      }
      if (error) {
        out.push({ ok: false, issue: { kind: 'parse', file: file.display, line: recLine, message: `malformed row at line ${recLine}: ${error}` } });
        continue;
      }
      if (fields.length !== header.length) {
        out.push({ ok: false, issue: { kind: 'parse', file: file.display, line: recLine, message: `row at line ${recLine} has ${fields.length} fields, the header has ${header.length}` } });
        continue;
      }
      const rec: Record<string, string> = {};
      for (let k = 0; k < header.length; k++) rec[header[k]!] = fields[k]!;
      out.push({ ok: true, value: rec, line: recLine });
    }
    if (out.length) yield out;
  }
  if (p.inQuotes) yield [{ ok: false, issue: { kind: 'parse', file: file.display, line: recLine, message: `unclosed quote in the record starting at line ${recLine}` }, fatal: true }];
}

function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n, i) => {
    const base = n || `column${i + 1}`;
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    return k === 1 ? base : `${base}_${k}`;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Parquet

/** An AsyncBuffer over an open file handle: each slice is one positioned read. */
export async function fileAsyncBuffer(filePath: string): Promise<{ buffer: AsyncBuffer; close: () => Promise<void> }> {
  const handle = await fsp.open(filePath, 'r');
  const { size } = await handle.stat();
  const buffer: AsyncBuffer = {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const len = Math.max(0, stop - start);
      const out = new Uint8Array(len);
      let done = 0;
      while (done < len) {
        const { bytesRead } = await handle.read(out, done, len - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out.buffer;
    },
  };
  return { buffer, close: () => handle.close() };
}

export function normalizeValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(normalizeValue);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = normalizeValue(x);
    return o;
  }
  return v;
}

async function* readParquet(file: SourceFile, counter: ByteCounter): AsyncGenerator<ReadItem[]> {
  if (!file.path) throw new Error('a Parquet stream must be spooled to a file first');
  if (file.bytes === 0) return;
  const { buffer, close } = await fileAsyncBuffer(file.path);
  try {
    let metadata;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (e) {
      yield [{ ok: false, issue: { kind: 'parse', file: file.display, message: `not a readable Parquet file: ${(e as Error).message}` }, fatal: true }];
      return;
    }
    let rowStart = 0;
    const footer = file.bytes - metadata.row_groups.reduce((a, rg) => a + Number(rg.total_compressed_size ?? 0), 0);
    counter.bytes += Math.max(0, footer);
    for (const rg of metadata.row_groups) {
      const n = Number(rg.num_rows);
      const rows = await parquetReadObjects({ file: buffer, metadata, rowStart, rowEnd: rowStart + n });
      const out: ReadItem[] = rows.map((r, k) => ({ ok: true, value: normalizeValue(r), line: rowStart + k + 1 }));
      rowStart += n;
      counter.bytes += Number(rg.total_compressed_size ?? 0);
      if (out.length) yield out;
    }
  } finally {
    await close();
    counter.bytes = Math.max(counter.bytes, file.bytes);
  }
}
