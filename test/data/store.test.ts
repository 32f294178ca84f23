import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Database from 'better-sqlite3';
import { exportSamples } from '../../workers/data/export';
import { importDataset } from '../../workers/data/importer';
import {
  countSamples,
  deleteDataset,
  deleteMatching,
  deleteSamples,
  domainCounts,
  ftsQuery,
  getDataset,
  getSample,
  indexInserted,
  iterateSamples,
  lengthHistogram,
  listDatasets,
  querySamples,
  refreshStats,
  renameDataset,
  renameDomain,
  setSampleDomain,
} from '../../workers/data/store';
import type { SamplePageQuery } from '../../workers/data/types';
import { openDb, tmpDir } from './helpers';

const N = 200_000;
const DOMAINS = ['code', 'cooking', 'law', 'sport'];
let t: ReturnType<typeof tmpDir>;
let db: Database.Database;
let big: number;
let small: number;

/** A dataset of N rows generated in SQL (the paging benchmark; import speed is measured elsewhere). */
function seedBig(): number {
  const id = Number(db.prepare("INSERT INTO ds_datasets(name, created_at, state) VALUES ('big', 1, 'ready')").run().lastInsertRowid);
  db.transaction(() => {
    db.prepare(
      `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
       INSERT INTO ds_samples(dataset_id, text, domain, scores, hash, chars, tokens, line)
       SELECT ?, t, d, NULL, i, length(t), (length(t) + 3) / 4, i + 1 FROM (
         SELECT i,
           CASE i % 4 WHEN 0 THEN 'code' WHEN 1 THEN 'cooking' WHEN 2 THEN 'law' ELSE 'sport' END AS d,
           'sample ' || i || ' ' || CASE i % 4 WHEN 0 THEN 'python loops and rust borrow checker' WHEN 1 THEN 'pasta with tomato sauce'
             WHEN 2 THEN 'the court ruled on appeal' ELSE 'the match ended in a draw' END
             || substr(' lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod', 1, (i * 7919) % 70) AS t
         FROM seq)`,
    ).run(N - 1, id);
    indexInserted(db, id, 0);
    refreshStats(db, id);
  })();
  return id;
}

beforeAll(async () => {
  t = tmpDir();
  db = openDb(`${t.dir}/ws.db`);
  const t0 = performance.now();
  big = seedBig();
  console.log(`seeded ${N} rows with FTS in ${(performance.now() - t0).toFixed(0)} ms`);
  const p = t.write(
    's.jsonl',
    [
      { text: 'Crème brûlée is a French dessert', domain: 'cooking', scores: { toxicity: 0.01 } },
      { text: 'The borrow checker rejects this code.', domain: 'code', scores: { toxicity: 0.02, 'prompt.insult': 0.5 } },
      { text: 'An unlabeled line about rust', domain: null },
      { text: 'Another dessert: tarte tatin', domain: 'cooking' },
      { text: 'Emoji 😀 and "quotes" and\nnewlines', domain: 'misc', scores: { toxicity: 0.9 } },
    ]
      .map((o) => JSON.stringify(o))
      .join('\n'),
  );
  small = (await importDataset(db, [{ path: p }], { name: 'small' })).datasetId!;
}, 120_000);

afterAll(() => {
  db.close();
  t.cleanup();
});

const PATHOLOGICAL_MS = 10_000;

function timed<T>(label: string, f: () => T): T {
  const t0 = performance.now();
  const r = f();
  const ms = performance.now() - t0;
  console.log(`${label}: ${ms.toFixed(1)} ms`);
  // Only a guard against a pathological plan (a full scan per page of 200k rows, an unindexed sort): 10 s is ≥ 25× the
  // slowest of these measured on a loaded 2-core machine (≈ 380 ms, iterating 50k samples), so load never trips it.
  expect(ms).toBeLessThan(PATHOLOGICAL_MS);
  return r;
}

describe('200k-row paging', () => {
  it('pages by id, by domain, by length and by search, with keyset cursors', () => {
    const pageAll = (q: SamplePageQuery, pages: number) => {
      const ids: number[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < pages; i++) {
        const p = querySamples(db, { ...q, cursor, limit: 100 });
        ids.push(...p.samples.map((s) => s.id));
        cursor = p.next;
        if (!cursor) break;
      }
      return ids;
    };
    const first = timed('page 1 by id', () => querySamples(db, { datasetId: big, limit: 100, snippetChars: 80 }));
    expect(first.samples).toHaveLength(100);
    expect(first.samples[0]).toMatchObject({ text: 'sample 0 python loops and rust borrow checker', domain: 'code', origin: null });
    const ids = timed('20 pages by id', () => pageAll({ datasetId: big }, 20));
    expect(ids).toHaveLength(2000);
    expect(new Set(ids).size).toBe(2000);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);

    const dom = timed('20 pages of one domain', () => pageAll({ datasetId: big, domain: 'law' }, 20));
    expect(dom).toHaveLength(2000);
    expect(querySamples(db, { datasetId: big, domain: 'law', limit: 5 }).samples.every((s) => s.domain === 'law')).toBe(true);

    const desc = timed('page 1 by length desc, one domain', () => querySamples(db, { datasetId: big, domain: 'sport', sort: { by: 'chars', dir: 'desc' }, limit: 100 }));
    const lens = desc.samples.map((s) => s.chars);
    expect([...lens].sort((a, b) => b - a)).toEqual(lens);
    const desc2 = timed('page 2 by length desc, one domain', () => querySamples(db, { datasetId: big, domain: 'sport', sort: { by: 'chars', dir: 'desc' }, limit: 100, cursor: desc.next }));
    expect(desc2.samples[0]!.chars).toBeLessThanOrEqual(lens[lens.length - 1]!);
    timed('page 1 by length asc, whole dataset', () => querySamples(db, { datasetId: big, sort: { by: 'chars' }, limit: 100 }));

    // Deep page: a cursor far into the dataset is as fast as the first page.
    const deepCursor = Buffer.from(JSON.stringify([0, 190_000])).toString('base64url');
    const deep = timed('deep page by id (after id 190000)', () => querySamples(db, { datasetId: big, cursor: deepCursor, limit: 100 }));
    expect(deep.samples[0]!.id).toBe(190_001);

    const s = timed('search "pasta" page 1', () => querySamples(db, { datasetId: big, search: 'pasta', limit: 100 }));
    expect(s.samples.every((x) => x.text.includes('pasta'))).toBe(true);
    timed('search "pasta" page 2', () => querySamples(db, { datasetId: big, search: 'pasta', limit: 100, cursor: s.next }));
    const rare = timed('search rare term + domain', () => querySamples(db, { datasetId: big, search: '12344 python', domain: 'code' }));
    expect(rare.samples.map((x) => x.text.slice(0, 19))).toEqual(['sample 12344 python']);
    expect(querySamples(db, { datasetId: big, search: '12344 python', domain: 'law' }).samples).toEqual([]);
    expect(timed('count search "court"', () => countSamples(db, { datasetId: big, search: 'court' }))).toBe(N / 4);
  });

  it('lists datasets with per-domain counts, and histograms lengths', () => {
    const list = timed('listDatasets', () => listDatasets(db));
    const b = list.find((d) => d.id === big)!;
    expect(b.samples).toBe(N);
    expect(b.domains.map((d) => d.domain).sort()).toEqual(DOMAINS);
    expect(b.domains.reduce((a, d) => a + d.samples, 0)).toBe(N);
    expect(b.tokens).toBeGreaterThan(b.chars / 4);
    const h = timed('length histogram (30 bins)', () => lengthHistogram(db, { datasetId: big }, { bins: 30 }));
    expect(h.counts.reduce((a, c) => a + c, 0)).toBe(N);
    expect(h.edges).toHaveLength(31);
    const hl = timed('log histogram, one domain', () => lengthHistogram(db, { datasetId: big, domain: 'code' }, { bins: 10, scale: 'log' }));
    expect(hl.counts.reduce((a, c) => a + c, 0)).toBe(N / 4);
    timed('domainCounts', () => domainCounts(db, big));
  });

  it('streams samples in batches', () => {
    let n = 0;
    let batches = 0;
    timed('iterate 50k samples of one domain', () => {
      for (const b of iterateSamples(db, { datasetId: big, domain: 'cooking', limit: 50_000, batchSize: 5000 })) {
        n += b.length;
        batches++;
      }
    });
    expect([n, batches]).toEqual([50_000, 10]);
  });
});

describe('search, edits and export', () => {
  it('searches full text with diacritics folding and phrases, within one dataset', () => {
    const texts = (q: string, domain?: string | null) => querySamples(db, { datasetId: small, search: q, ...(domain !== undefined ? { domain } : {}) }).samples.map((s) => s.text);
    expect(texts('creme brulee')).toEqual(['Crème brûlée is a French dessert']);
    expect(texts('dessert')).toHaveLength(2);
    expect(texts('dessert', 'code')).toEqual([]);
    expect(texts('"borrow checker"')).toEqual(['The borrow checker rejects this code.']);
    expect(texts('"checker borrow"')).toEqual([]);
    expect(texts('rust', null)).toEqual(['An unlabeled line about rust']);
    expect(texts('dessert* -tatin')).toEqual(['Another dessert: tarte tatin']); // operators are quoted, not interpreted
    expect(ftsQuery('  !!  ')).toBeNull();
  });

  it('edits domain labels, deletes samples, keeps counts in step', () => {
    const p = t.write('e.jsonl', ['a', 'b', 'c', 'd'].map((x, i) => JSON.stringify({ text: `text ${x}`, domain: i < 2 ? 'one' : 'two' })).join('\n'));
    const id = (importDataset(db, [{ path: p }], { name: 'edit' }) as Promise<{ datasetId: number | null }>).then((r) => r.datasetId!);
    return id.then((ds) => {
      const s = [...iterateSamples(db, { datasetId: ds })].flat();
      expect(setSampleDomain(db, ds, [s[0]!.id], 'two')).toBe(1);
      expect(getDataset(db, ds)!.domains.map((d) => [d.domain, d.samples])).toEqual([
        ['two', 3],
        ['one', 1],
      ]);
      expect(renameDomain(db, ds, 'one', 'two')).toBe(1); // merge
      expect(renameDomain(db, ds, 'two', 'merged')).toBe(4);
      expect(getSample(db, s[1]!.id)).toMatchObject({ domain: 'merged', origin: { file: 'e.jsonl', line: 2 } });
      expect(deleteSamples(db, ds, [s[0]!.id, s[1]!.id, s[0]!.id])).toBe(2);
      expect(deleteSamples(db, small, [s[2]!.id])).toBe(0); // another dataset's sample is not touched
      expect(querySamples(db, { datasetId: ds, search: 'text' }).samples.map((x) => x.text)).toEqual(['text c', 'text d']);
      expect(deleteMatching(db, { datasetId: ds, search: '"text c"' })).toBe(1);
      expect(getDataset(db, ds)).toMatchObject({ samples: 1, domains: [{ domain: 'merged', samples: 1 }] });
      renameDataset(db, ds, 'renamed');
      expect(getDataset(db, ds)!.name).toBe('renamed');
      deleteDataset(db, ds);
      expect(getDataset(db, ds)).toBeNull();
      expect(querySamples(db, { datasetId: ds, search: 'text' }).samples).toEqual([]);
      expect((db.prepare("SELECT count(*) AS n FROM ds_fts WHERE ds_fts MATCH 'text'").get() as { n: number }).n).toBe(0);
      expect(() => deleteDataset(db, ds)).toThrow(/not found/);
    });
  });

  for (const format of ['jsonl', 'parquet'] as const) {
    it(`round-trips through ${format} export and re-import`, async () => {
      const key = (x: { text: string; domain: string | null; scores: Record<string, number> | null }) => JSON.stringify([x.text, x.domain, x.scores]);
      const original = [...iterateSamples(db, { datasetId: small })].flat().map(key);
      const dest = `${t.dir}/out.${format}`;
      const res = await exportSamples(db, { datasetId: small }, dest, { format, batchSize: 2 });
      expect(res.samples).toBe(5);
      const back = await importDataset(db, [{ path: dest }]);
      expect(back.imported).toBe(5);
      expect(getDataset(db, back.datasetId!)!.scoreNames).toEqual(['prompt.insult', 'toxicity']);
      expect([...iterateSamples(db, { datasetId: back.datasetId! })].flat().map(key)).toEqual(original);
      // A filtered view
      const view = await exportSamples(db, { datasetId: small, domain: 'cooking', search: 'dessert' }, `${t.dir}/view.${format}`, { format });
      expect(view.samples).toBe(2);
    });
  }
});
