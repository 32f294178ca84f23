import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { importDataset, previewImport } from '../../workers/data/importer';
import { getDataset } from '../../workers/data/store';
import { openDb } from './helpers';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/data');

describe('fixtures', () => {
  for (const f of ['sample.jsonl', 'sample.parquet']) {
    it(`${f} is detected and imports 24 samples in 3 domains with a toxicity score`, async () => {
      const pv = await previewImport([{ path: path.join(dir, f) }]);
      expect(pv.detection).toMatchObject({ shape: 'text', confidence: 1, mapping: { text: { kind: 'field', field: 'text' }, domain: { kind: 'field', field: 'domain' }, scores: [{ name: 'toxicity', field: 'toxicity' }] } });
      const db = openDb();
      const r = await importDataset(db, [{ path: path.join(dir, f) }]);
      const ds = getDataset(db, r.datasetId!)!;
      expect(ds.samples).toBe(24);
      expect(ds.domains.map((d) => [d.domain, d.samples])).toEqual([
        ['code', 8],
        ['cooking', 8],
        ['law', 8],
      ]);
      expect(ds.scoreNames).toEqual(['toxicity']);
      db.close();
    });
  }
});
