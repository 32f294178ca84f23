import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { datasetExportJob, datasetImportJob, WORKSPACE_DB_FILE } from '../../workers/data/jobs';
import { listDatasets, migrate } from '../../workers/data/store';
import type { JobContext } from '../../workers/jobs/types';
import { tmpDir } from './helpers';

const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/data/sample.jsonl');

function ctx(workspace: string, signal = new AbortController().signal): JobContext & { lines: string[]; last: number[] } {
  const lines: string[] = [];
  const last: number[] = [];
  return {
    lines,
    last,
    progress: (done, total) => last.splice(0, 2, done, total ?? -1),
    log: (l) => lines.push(l),
    signal,
    workspace,
    jobId: 'j1',
    settings: { theme: 'system', device: 'cpu', threads: 0, maxHeavyJobs: 1 },
  };
}

describe('dataset jobs', () => {
  it('dataset.import and dataset.export run against the workspace database', async () => {
    const t = tmpDir();
    try {
      const c = ctx(t.dir);
      const params = datasetImportJob.params.parse({ paths: [fixture], name: 'fixture' });
      const r = (await datasetImportJob.run(params, c)) as { datasetId: number; imported: number };
      expect(r.imported).toBe(24);
      expect(c.last[0]).toBe(c.last[1]);
      const db = new Database(path.join(t.dir, WORKSPACE_DB_FILE));
      migrate(db);
      expect(listDatasets(db).map((d) => [d.name, d.samples])).toEqual([['fixture', 24]]);
      db.close();
      const ep = datasetExportJob.params.parse({ filter: { datasetId: r.datasetId, domain: 'law' }, format: 'parquet', path: path.join(t.dir, 'law.parquet') });
      expect(await datasetExportJob.run(ep, ctx(t.dir))).toMatchObject({ samples: 8 });
      expect(() => datasetImportJob.params.parse({ paths: [] })).toThrow();
    } finally {
      t.cleanup();
    }
  });

  it('a cancelled import job throws the abort reason and leaves nothing', async () => {
    const t = tmpDir();
    try {
      const ac = new AbortController();
      ac.abort(new Error('cancelled by user'));
      await expect(datasetImportJob.run(datasetImportJob.params.parse({ paths: [fixture] }), ctx(t.dir, ac.signal))).rejects.toThrow('cancelled by user');
      const db = new Database(path.join(t.dir, WORKSPACE_DB_FILE));
      expect(listDatasets(db)).toEqual([]);
      db.close();
    } finally {
      t.cleanup();
    }
  });
});
