import { describe, expect, it } from 'vitest';
import { readRecords } from '../../workers/data/readers';
import type { ReadItem } from '../../workers/data/readers';
import type { SourceFile } from '../../workers/data/sources';
import { invalidUtf8Index } from '../../workers/data/bytes';
import type { DataFormat } from '../../workers/data/types';
import { chunked } from './helpers';

const enc = new TextEncoder();

async function read(format: DataFormat, data: string | Uint8Array, chunk = 7, textUnit: 'line' | 'file' = 'line'): Promise<ReadItem[]> {
  const bytes = typeof data === 'string' ? enc.encode(data) : data;
  const file: SourceFile = { display: `f.${format}`, stream: chunked(bytes, chunk), format, gzip: false, bytes: bytes.length, folder: '', baseName: 'f', inFolder: false };
  const out: ReadItem[] = [];
  for await (const b of readRecords(file, { bytes: 0 }, { maxRecordBytes: 1 << 20, textUnit })) out.push(...b);
  return out;
}

const values = (items: ReadItem[]) => items.filter((i) => i.ok).map((i) => (i as { value: unknown }).value);
const issues = (items: ReadItem[]) => items.filter((i) => !i.ok).map((i) => (i as { issue: { kind: string; line?: number; column?: number } }).issue);

describe('readers', () => {
  it('reads JSONL with CRLF, BOM and blank lines, at any chunk size', async () => {
    const text = '\uFEFF{"a":1}\r\n\n{"a":"é😀"}\n{"a":3}';
    for (const c of [1, 2, 3, 5, 100]) {
      const items = await read('jsonl', text, c);
      expect(values(items)).toEqual([{ a: 1 }, { a: 'é😀' }, { a: 3 }]);
      expect(items.filter((i) => i.ok).map((i) => (i as { line: number }).line)).toEqual([1, 3, 4]);
    }
  });

  it('reports malformed JSONL lines and invalid UTF-8 with line and column', async () => {
    const bad = new Uint8Array([...enc.encode('{"a":1}\n{"a": oops}\n{"a":"x'), 0xff, ...enc.encode('"}\n{"a":4}\n')]);
    const items = await read('jsonl', bad, 4);
    expect(values(items)).toEqual([{ a: 1 }, { a: 4 }]);
    const is = issues(items);
    expect(is.map((i) => [i.kind, i.line])).toEqual([
      ['parse', 2],
      ['encoding', 3],
    ]);
    expect(is[1]!.column).toBe(8);
  });

  it('scans JSON arrays element by element, across chunk boundaries', async () => {
    const text = ' [ {"t": "a,]}\\"[{"}, "str", 12.5, null, [1,[2]], {"x": {"y": [true]}} , -3 ]  \n';
    for (const c of [1, 2, 3, 64]) {
      const items = await read('json', text, c);
      expect(values(items)).toEqual([{ t: 'a,]}"[{' }, 'str', 12.5, null, [1, [2]], { x: { y: [true] } }, -3]);
    }
  });

  it('skips a malformed JSON array element and reports a truncated array', async () => {
    const items = await read('json', '[\n{"a":1},\n{"a": tru},\n{"a":3}\n]');
    expect(values(items)).toEqual([{ a: 1 }, { a: 3 }]);
    expect(issues(items).map((i) => [i.kind, i.line])).toEqual([['parse', 3]]);
    const trunc = await read('json', '[{"a":1},\n{"a":2');
    expect(values(trunc)).toEqual([{ a: 1 }]);
    expect(trunc[trunc.length - 1]).toMatchObject({ ok: false, fatal: true });
  });

  it('reads a .json file that holds JSON lines', async () => {
    expect(values(await read('json', '{"a":1}\n{"a":2}\n'))).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it('parses CSV with quotes, doubled quotes and newlines in fields', async () => {
    const csv = 'text,label,score\n"hello, world",a,0.5\n"multi\nline ""quoted""",b,1\n\nplain,c,2\n';
    for (const c of [1, 3, 50]) {
      const items = await read('csv', csv, c);
      expect(values(items)).toEqual([
        { text: 'hello, world', label: 'a', score: '0.5' },
        { text: 'multi\nline "quoted"', label: 'b', score: '1' },
        { text: 'plain', label: 'c', score: '2' },
      ]);
      expect(items.map((i) => (i.ok ? i.line : 0))).toEqual([2, 3, 6]);
    }
  });

  it('reports CSV rows with the wrong field count, stray quotes and bad bytes', async () => {
    const data = new Uint8Array([...enc.encode('text,label\nok,a\ntoo,many,fields\n"x"y,b\nbad'), 0xc3, 0x28, ...enc.encode(',c\nfine,d\n')]);
    const items = await read('csv', data, 5);
    expect(values(items)).toEqual([
      { text: 'ok', label: 'a' },
      { text: 'fine', label: 'd' },
    ]);
    expect(issues(items).map((i) => [i.kind, i.line])).toEqual([
      ['parse', 3],
      ['parse', 4],
      ['encoding', 5],
    ]);
  });

  it('reports an unclosed CSV quote as fatal', async () => {
    const items = await read('csv', 'text\n"never closed\nmore\n');
    expect(items[items.length - 1]).toMatchObject({ ok: false, fatal: true, issue: { kind: 'parse', line: 2 } });
  });

  it('parses TSV', async () => {
    expect(values(await read('tsv', 'text\tdomain\nhello there\tx\n'))).toEqual([{ text: 'hello there', domain: 'x' }]);
  });

  it('reads text by line or as one sample', async () => {
    expect(values(await read('txt', 'one\ntwo\n\nthree'))).toEqual(['one', 'two', '', 'three']);
    expect(values(await read('txt', 'one\ntwo\n', 3, 'file'))).toEqual(['one\ntwo\n']);
  });

  it('reports an empty file', async () => {
    for (const f of ['jsonl', 'json', 'csv', 'txt'] as const) {
      expect(issues(await read(f, ''))).toEqual([{ kind: 'empty-file', file: `f.${f}`, message: expect.any(String) }]);
    }
  });

  it('finds the first invalid UTF-8 byte', () => {
    expect(invalidUtf8Index(enc.encode('aé😀'))).toBe(-1);
    expect(invalidUtf8Index(new Uint8Array([0x61, 0xe2, 0x82]))).toBe(1); // truncated
    expect(invalidUtf8Index(new Uint8Array([0xc0, 0x80]))).toBe(0); // overlong
    expect(invalidUtf8Index(new Uint8Array([0xed, 0xa0, 0x80]))).toBe(0); // surrogate
  });
});
