import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type Database from 'better-sqlite3';
import { gzipSync } from 'node:zlib';
import { parquetWriteFile } from 'hyparquet-writer';
import { ImportFailedError, importDataset, previewImport } from '../../workers/data/importer';
import { detectShape } from '../../workers/data/mapping';
import { getDataset, iterateSamples, listDatasets, recoverStore } from '../../workers/data/store';
import type { ImportReport, Mapping } from '../../workers/data/types';
import { chunked, openDb, tmpDir } from './helpers';

let t: ReturnType<typeof tmpDir>;
let db: Database.Database;
beforeEach(() => {
  t = tmpDir();
  db = openDb();
});
afterEach(() => {
  db.close();
  t.cleanup();
});

const all = (id: number) => [...iterateSamples(db, { datasetId: id })].flat();
const rowCount = () => (db.prepare('SELECT count(*) AS n FROM ds_samples').get() as { n: number }).n;
async function failure(p: Promise<unknown>): Promise<ImportFailedError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ImportFailedError);
    return e as ImportFailedError;
  }
  throw new Error('expected the import to fail');
}

describe('import formats', () => {
  it('imports JSONL with a domain field and reports duplicates', async () => {
    const p = t.write('a.jsonl', ['{"text":"alpha one","domain":"x"}', '{"text":"beta two","domain":"y"}', '{"text":"alpha one","domain":"x"}', ''].join('\n'));
    const r = await importDataset(db, [{ path: p }], { name: 'A' });
    expect(r).toMatchObject({ outcome: 'committed', imported: 2, duplicates: 1, records: 3 });
    expect(r.duplicateExamples).toEqual([{ file: 'a.jsonl', line: 3 }]);
    const ds = getDataset(db, r.datasetId!)!;
    expect(ds).toMatchObject({ name: 'A', samples: 2, chars: 17, tokens: 5 });
    expect(ds.domains.map((d) => [d.domain, d.samples])).toEqual([
      ['x', 1],
      ['y', 1],
    ]);
    expect(all(r.datasetId!).map((s) => s.text)).toEqual(['alpha one', 'beta two']);
    const kept = await importDataset(db, [{ path: p }], { duplicates: 'keep' });
    expect(kept.imported).toBe(3);
  });

  it('imports a JSON array, CSV, TSV, text and gzip', async () => {
    const json = t.write('j.json', JSON.stringify([{ content: 'from json' }, { content: 'second' }]));
    const csv = t.write('c.csv', 'text,category\n"hello, csv",news\nbye,sport\n');
    const tsv = t.write('d.tsv', 'text\tcategory\ntab text\tnews\n');
    const txt = t.write('e.txt', 'line one\n\nline two\n');
    const gz = t.write('f.jsonl.gz', gzipSync(Buffer.from('{"text":"zipped"}\n')));
    expect(all((await importDataset(db, [{ path: json }])).datasetId!).map((s) => s.text)).toEqual(['from json', 'second']);
    const c = all((await importDataset(db, [{ path: csv }])).datasetId!);
    expect(c.map((s) => [s.text, s.domain])).toEqual([
      ['hello, csv', 'news'],
      ['bye', 'sport'],
    ]);
    expect(all((await importDataset(db, [{ path: tsv }])).datasetId!).map((s) => [s.text, s.domain])).toEqual([['tab text', 'news']]);
    const tr = await importDataset(db, [{ path: txt }]);
    expect(tr.blank).toBe(1);
    expect(all(tr.datasetId!).map((s) => s.text)).toEqual(['line one', 'line two']);
    expect(all((await importDataset(db, [{ path: gz }])).datasetId!).map((s) => s.text)).toEqual(['zipped']);
  });

  it('imports Parquet row group by row group, with scores', async () => {
    const p = `${t.dir}/p.parquet`;
    const n = 2500;
    parquetWriteFile({
      filename: p,
      columnData: [
        { name: 'text', data: Array.from({ length: n }, (_, i) => `row ${i}`), type: 'STRING' },
        { name: 'label', data: Array.from({ length: n }, (_, i) => (i % 2 ? 'odd' : 'even')), type: 'STRING' },
        { name: 'toxicity', data: Array.from({ length: n }, (_, i) => i / n), type: 'DOUBLE' },
        { name: 'n', data: Array.from({ length: n }, (_, i) => BigInt(i)), type: 'INT64' },
      ],
      rowGroupSize: 1000,
    });
    const progress: number[] = [];
    const r = await importDataset(db, [{ path: p }], { onProgress: (x) => progress.push(x.bytesDone) });
    expect(r.imported).toBe(n);
    const s = all(r.datasetId!);
    expect(s[3]).toMatchObject({ text: 'row 3', domain: 'odd', scores: { toxicity: 3 / n } });
    expect(getDataset(db, r.datasetId!)!.scoreNames).toEqual(['toxicity']);
    expect(progress[progress.length - 1]).toBe(r.bytesTotal);
  });

  it('imports folders recursively with a domain per folder, and text files a sample per file', async () => {
    t.write('corpus/python/a.txt', 'def f(): pass\n');
    t.write('corpus/python/b.txt', 'import os\nprint(1)\n');
    t.write('corpus/rust/c.txt', 'fn main() {}\n');
    t.write('corpus/notes.bin', 'xx');
    const pv = await previewImport([{ path: `${t.dir}/corpus` }]);
    expect(pv.detection).toMatchObject({ shape: 'text', mapping: { domain: { kind: 'folder' } } });
    const txtBytes = ['def f(): pass\n', 'import os\nprint(1)\n', 'fn main() {}\n'].reduce((n, x) => n + Buffer.byteLength(x), 0);
    expect(pv.formats).toEqual({ txt: { files: 3, bytes: txtBytes } });
    expect(pv.skippedFiles).toEqual(['corpus/notes.bin']);
    const r = await importDataset(db, [{ path: `${t.dir}/corpus` }]);
    expect(r.issueCounts).toEqual({ unsupported: 1 });
    expect(all(r.datasetId!).map((s) => [s.domain, s.text])).toEqual([
      ['python', 'def f(): pass\n'],
      ['python', 'import os\nprint(1)\n'],
      ['rust', 'fn main() {}\n'],
    ]);
  });

  it('takes a stream source (a browser upload), including Parquet', async () => {
    const data = Buffer.from('{"text":"streamed a"}\n{"text":"streamed b"}\n');
    const r = await importDataset(db, [{ name: 'up.jsonl', stream: chunked(data, 5), size: data.length }], { mapping: { text: { kind: 'field', field: 'text' }, domain: { kind: 'value', value: 'web' }, scores: [] } });
    expect(all(r.datasetId!).map((s) => [s.text, s.domain])).toEqual([
      ['streamed a', 'web'],
      ['streamed b', 'web'],
    ]);
    const p = `${t.dir}/s.parquet`;
    parquetWriteFile({ filename: p, columnData: [{ name: 'text', data: ['pq stream'], type: 'STRING' }] });
    const { readFileSync } = await import('node:fs');
    const r2 = await importDataset(db, [{ name: 's.parquet', stream: chunked(readFileSync(p), 100) }]);
    expect(all(r2.datasetId!).map((s) => s.text)).toEqual(['pq stream']);
  });
});

describe('detection', () => {
  it('detects instruction, chat, prompt-continuation and text shapes', () => {
    const alpaca = detectShape([{ instruction: 'Add', input: '1 and 2', output: '3' }], []);
    expect(alpaca).toMatchObject({ shape: 'instruction', confidence: 1, mapping: { text: { kind: 'template', template: '{instruction}\n\n{input}\n\n{output}' } } });
    const chat = detectShape([{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }], []);
    expect(chat).toMatchObject({ shape: 'chat', mapping: { text: { kind: 'chat', field: 'messages' } } });
    const rtp = detectShape(
      [
        { filename: 'x', begin: 1, end: 5, challenging: false, prompt: { text: 'You are', toxicity: 0.2, insult: 0.1 }, continuation: { text: ' nice', toxicity: 0.01, insult: null } },
        { filename: 'y', begin: 2, end: 9, challenging: true, prompt: { text: 'They', toxicity: 0.5, insult: 0.3 }, continuation: { text: ' left', toxicity: 0.02, insult: 0.0 } },
      ],
      [],
    );
    expect(rtp.shape).toBe('prompt-continuation');
    expect(rtp.mapping.scores.map((s) => s.field).sort()).toEqual(['continuation.insult', 'continuation.toxicity', 'prompt.insult', 'prompt.toxicity']);
    const guessed = detectShape([{ id: 1, title: 'x', blurb: 'a much longer string here' }], []);
    expect(guessed).toMatchObject({ shape: 'text', confidence: 0.5, mapping: { text: { field: 'blurb' } } });
  });

  it('imports Alpaca, chat and RealToxicityPrompts records mapped to text', async () => {
    const a = t.write('a.jsonl', [JSON.stringify({ instruction: 'Add', input: '', output: '3' }), JSON.stringify({ instruction: 'Sub', input: '5 2', output: '3' })].join('\n'));
    expect(all((await importDataset(db, [{ path: a }])).datasetId!).map((s) => s.text)).toEqual(['Add\n\n3', 'Sub\n\n5 2\n\n3']);
    const c = t.write('c.json', JSON.stringify([{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'text', text: 'yo' }] }] }]));
    expect(all((await importDataset(db, [{ path: c }])).datasetId!).map((s) => s.text)).toEqual(['user: hi\nassistant: yo']);
    const r = t.write('rtp.jsonl', JSON.stringify({ begin: 1, prompt: { text: 'You are', toxicity: 0.2 }, continuation: { text: ' nice', toxicity: 0.01 } }));
    expect(all((await importDataset(db, [{ path: r }])).datasetId!)).toMatchObject([{ text: 'You are nice', scores: { 'prompt.toxicity': 0.2, 'continuation.toxicity': 0.01 } }]);
  });

  it('previews with an override mapping without writing anything', async () => {
    const p = t.write('x.jsonl', Array.from({ length: 50 }, (_, i) => JSON.stringify({ body: `b${i}`, title: `t${i}`, cat: i % 2 ? 'a' : 'b' })).join('\n'));
    const mapping: Mapping = { text: { kind: 'template', template: '{title}: {body}' }, domain: { kind: 'field', field: 'cat' }, scores: [] };
    const pv = await previewImport([{ path: p }], { mapping, limit: 3 });
    expect(pv.samples.map((s) => [s.text, s.domain, s.line])).toEqual([
      ['t0: b0', 'b', 1],
      ['t1: b1', 'a', 2],
      ['t2: b2', 'b', 3],
    ]);
    expect(pv.detection.mapping.text).toEqual({ kind: 'field', field: 'body' });
    expect(rowCount()).toBe(0);
    expect(db.prepare('SELECT count(*) AS n FROM ds_datasets').get()).toEqual({ n: 0 });
  });
});

describe('bad input', () => {
  const messy = () =>
    t.write(
      'm.jsonl',
      Buffer.concat([Buffer.from('{"text":"good 1"}\n{"text": broken\n{"text":"bad '), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n{"other":1}\n{"text":"good 2"}\n')]),
    );

  it('skips malformed lines, invalid UTF-8 and unmapped records, reporting file and line', async () => {
    const r = await importDataset(db, [{ path: messy() }], { onError: 'skip', mapping: { text: { kind: 'field', field: 'text' }, domain: { kind: 'none' }, scores: [] } });
    expect(r).toMatchObject({ outcome: 'committed', imported: 2, skippedErrors: 3, issueCounts: { parse: 1, encoding: 1, mapping: 1 } });
    expect(r.issues.map((i) => [i.kind, i.file, i.line])).toEqual([
      ['parse', 'm.jsonl', 2],
      ['encoding', 'm.jsonl', 3],
      ['mapping', 'm.jsonl', 4],
    ]);
    expect(r.issues[1]).toMatchObject({ column: 14, offset: 47 });
  });

  it('stops at the first malformed line, keeping nothing', async () => {
    const before = await importDataset(db, [{ path: t.write('ok.jsonl', '{"text":"existing"}\n') }]);
    const e = await failure(importDataset(db, [{ path: messy() }], { onError: 'stop' }));
    expect(e.report.outcome).toBe('stopped');
    expect(e.message).toContain('m.jsonl:2');
    expect(listDatasets(db).map((d) => d.id)).toEqual([before.datasetId]);
    expect(rowCount()).toBe(1);
    expect(all(before.datasetId!).map((s) => s.text)).toEqual(['existing']);
  });

  it('fails on empty input without creating a dataset, and reports empty files', async () => {
    const e = await failure(importDataset(db, [{ path: t.write('empty.jsonl', '') }]));
    expect(e.report).toMatchObject({ outcome: 'empty', issueCounts: { 'empty-file': 1 } });
    expect(listDatasets(db)).toEqual([]);
    const r = await importDataset(db, [{ path: t.write('e2.csv', '') }, { path: t.write('ok.txt', 'x') }]);
    expect(r.issues).toMatchObject([{ kind: 'empty-file', file: 'e2.csv' }]);
  });

  it('cancel leaves nothing, and existing datasets stay intact', async () => {
    const keep = await importDataset(db, [{ path: t.write('keep.jsonl', '{"text":"kept"}\n') }]);
    const big = t.write('big.jsonl', Array.from({ length: 30000 }, (_, i) => JSON.stringify({ text: `sample number ${i}` })).join('\n'));
    const ac = new AbortController();
    let seen = 0;
    const e = await failure(
      importDataset(db, [{ path: big }], {
        signal: ac.signal,
        onProgress: (p) => {
          seen = p.rowsImported;
          if (p.rowsImported > 1000) ac.abort();
        },
      }),
    );
    expect(seen).toBeGreaterThan(1000);
    expect(seen).toBeLessThan(30000);
    expect(e.name).toBe('AbortError');
    expect((e.report as ImportReport).outcome).toBe('cancelled');
    expect(listDatasets(db).map((d) => d.id)).toEqual([keep.datasetId]);
    expect(rowCount()).toBe(1);
    expect((db.prepare("SELECT count(*) AS n FROM ds_fts WHERE ds_fts MATCH 'sample'").get() as { n: number }).n).toBe(0);
  });

  it('a crashed import is invisible and removed at the next start', async () => {
    const ok = await importDataset(db, [{ path: t.write('ok.jsonl', '{"text":"fine"}\n') }]);
    // Simulate a crash: a staging dataset owned by a process that no longer exists.
    const id = Number(db.prepare("INSERT INTO ds_datasets(name, created_at, state, owner_pid) VALUES ('x', 0, 'importing', 999999999)").run().lastInsertRowid);
    db.prepare('INSERT INTO ds_samples(dataset_id, text, hash, chars, tokens) VALUES (?, ?, 0, 4, 1)').run(id, 'half');
    expect(listDatasets(db).map((d) => d.id)).toEqual([ok.datasetId]);
    expect(recoverStore(db)).toEqual({ removedImports: 1, finishedDeletes: 0 });
    expect(rowCount()).toBe(1);
  });
});
