/**
 * Why a file is refused, in its own words (the banner shows `refused`, not "the detection is unsure"); binary content
 * refused whatever the file is named; plain text a record per line, per blank-line paragraph or per file; numeric
 * score columns offered as scores.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { importDataset, ImportFailedError, previewImport } from '../../workers/data/importer';
import { binaryKind, refuseBinary } from '../../workers/data/sniff';
import { detectShape } from '../../workers/data/mapping';
import { chunked, openDb, tmpDir } from './helpers';

const t = tmpDir();
afterAll(() => t.cleanup());

/** A few KB that look like an executable: ELF header, NULs, machine code. */
function elf(): Uint8Array {
  const b = new Uint8Array(4096);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  for (let i = 64; i < b.length; i++) b[i] = (i * 37) % 256;
  return b;
}

describe('the reason a file is refused', () => {
  it('names the file\'s own problem when no record can be read', async () => {
    const cases: [string, string | Uint8Array, RegExp][] = [
      ['bad.parquet', 'not a parquet file at all', /^bad\.parquet: .*footer != PAR1/],
      ['empty.jsonl', '', /^empty\.jsonl: the file holds no records$/],
      ['program.txt', elf(), /^program\.txt: the file holds an ELF executable, not text: refused whatever it is named$/],
      ['program.jsonl', elf(), /an ELF executable/],
      ['picture.csv', Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13), /a PNG image/],
      ['nul.txt', Uint8Array.of(0x68, 0x69, 0, 0x21, 0x0a), /NUL bytes/],
      ['packed.jsonl', gzipSync('{"text": "a"}\n'), /gzip-compressed data \(add \.gz to its name/],
    ];
    for (const [name, data, expected] of cases) {
      const r = await previewImport([{ path: t.write(name, data) }]);
      expect(r.refused, name).toMatch(expected);
      expect(r.samples, name).toHaveLength(0);
    }
    const r = await previewImport([{ path: t.write('notes.xyz', 'hello') }]);
    expect(r.refused).toMatch(/no file of a type Resect imports \(notes\.xyz\)/);
    expect((await previewImport([{ path: t.write('ok.jsonl', '{"text":"fine"}\n') }])).refused).toBeNull();
  });

  it('an import of binary content ends with nothing imported and the reason', async () => {
    const db = openDb();
    const file = t.write('renamed.txt', elf());
    const err = await importDataset(db, [{ path: file }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportFailedError);
    const report = (err as ImportFailedError).report;
    expect(report.issues.map((i) => i.kind)).toContain('binary');
    expect(report.issueCounts.encoding ?? 0).toBe(0); // refused up front, not read as lines of mojibake
    db.close();
  });

  it('text with a few escape or form-feed bytes is still text; UTF-16 is named', async () => {
    expect(binaryKind(new TextEncoder().encode('plain\ttext\r\n\fwith \x1b[1mbold\x1b[0m'))).toBeNull();
    expect(binaryKind(Uint8Array.of(0xff, 0xfe, 0x68, 0x00))).toMatch(/UTF-16/);
    // The decision holds across chunk boundaries.
    const bytes = new Uint8Array(20_000).fill(0x61);
    bytes[9000] = 0; // past the sniffed head: not looked at
    const out: Uint8Array[] = [];
    for await (const c of refuseBinary(chunked(bytes, 700))) out.push(c);
    expect(out.reduce((a, c) => a + c.length, 0)).toBe(20_000);
    bytes[5000] = 0;
    await expect((async () => { for await (const _ of refuseBinary(chunked(bytes, 700))) void _; })()).rejects.toThrow(/NUL bytes/);
  });
});

describe('plain text units', () => {
  const code = 'def f(x):\n    return x + 1\n\n\nclass A:\n    pass\r\n   \nlast line';
  it('a record per line, per blank-line paragraph, or per file', async () => {
    const file = t.write('code.txt', code);
    const texts = async (textUnit: 'line' | 'paragraph' | 'file') => (await previewImport([{ path: file }], { textUnit })).samples.map((s) => [s.text, s.line]);
    expect(await texts('line')).toEqual([['def f(x):', 1], ['    return x + 1', 2], ['class A:', 5], ['    pass', 6], ['last line', 8]]);
    expect(await texts('paragraph')).toEqual([['def f(x):\n    return x + 1', 1], ['class A:\n    pass', 5], ['last line', 8]]);
    expect(await texts('file')).toEqual([[code, 1]]);
    const db = openDb();
    const report = await importDataset(db, [{ path: file }], { textUnit: 'paragraph' });
    expect(report.imported).toBe(3);
    db.close();
  });

  it('a paragraph with invalid UTF-8 is one issue; the others import', async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('good one\n\nbad '), 0xc3, 0x28, ...new TextEncoder().encode('\nstill bad\n\ngood two\n')]);
    const r = await previewImport([{ path: t.write('mixed.txt', bytes) }], { textUnit: 'paragraph' });
    expect(r.samples.map((s) => s.text)).toEqual(['good one', 'good two']);
    expect(r.issues).toMatchObject([{ kind: 'encoding', line: 3 }]);
  });
});

describe('numeric score columns are offered as scores', () => {
  it('numbers, numeric CSV strings, and a score-named field missing on most records', () => {
    const rows = (f: (k: number) => unknown) => Array.from({ length: 10 }, (_, k) => ({ text: `sample ${k}`, toxicity: f(k) }));
    const scores = (records: unknown[]) => detectShape(records, []).mapping.scores;
    expect(scores(rows((k) => k / 10))).toEqual([{ name: 'toxicity', field: 'toxicity' }]);
    expect(scores(rows((k) => String(k / 10)))).toEqual([{ name: 'toxicity', field: 'toxicity' }]);
    expect(scores(rows((k) => `${k}e-3`))).toEqual([{ name: 'toxicity', field: 'toxicity' }]);
    expect(scores(rows((k) => (k < 7 ? null : k / 10)))).toEqual([{ name: 'toxicity', field: 'toxicity' }]);
    expect(scores(rows((k) => (k < 5 ? 'high' : '0.3')))).toEqual([]);
    // An id-like or rarely present non-score number is not a score.
    expect(detectShape(Array.from({ length: 10 }, (_, k) => ({ text: 'x', row_id: k, weight: k < 2 ? 1 : null })), []).mapping.scores).toEqual([]);
  });
});
