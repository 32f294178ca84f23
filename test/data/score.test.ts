/** `dataset.score`: the toxicity heuristic written into every sample of a dataset; an existing score is kept unless overwrite. */
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import path from 'node:path';
import { datasetScoreJob, WORKSPACE_DB_FILE } from '../../workers/data/jobs';
import { importDataset } from '../../workers/data/importer';
import { getSample, migrate, scoreCounts } from '../../workers/data/store';
import type { JobContext } from '../../workers/jobs/types';
import { tmpDir } from './helpers';

const t = tmpDir();
afterAll(() => t.cleanup());

function ctx(abort?: AbortController): JobContext {
  return {
    progress: () => {}, log: () => {}, signal: (abort ?? new AbortController()).signal, workspace: t.dir, jobId: 'j1',
    settings: {} as JobContext['settings'],
  };
}

describe('dataset.score', () => {
  it('scores every sample, keeps other scores, and never replaces a score unless asked', async () => {
    const db = new Database(path.join(t.dir, WORKSPACE_DB_FILE));
    migrate(db);
    const file = t.write('comments.jsonl', [
      { text: 'Go kill yourself, you worthless moron.', rating: 1 },
      { text: 'Thanks, this fixed my problem.', rating: 5 },
      { text: 'You are a pathetic loser.', rating: 2 },
    ].map((r) => JSON.stringify(r)).join('\n'));
    const report = await importDataset(db, [{ path: file }]);
    const id = report.datasetId!;
    const run = (o: { overwrite?: boolean; scorer?: string } = {}) => datasetScoreJob.run(datasetScoreJob.params.parse({ datasetId: id, ...o }), ctx());

    const r = (await run()) as { samples: number; replaced: number };
    expect(r).toMatchObject({ samples: 3, replaced: 0 });
    expect(scoreCounts(db, id)).toEqual({ rating: 3, toxicity: 3 });
    const scores = [1, 2, 3].map((k) => getSample(db, k)!.scores!);
    expect(scores[0]!.toxicity).toBeGreaterThan(0.9);
    expect(scores[1]).toEqual({ rating: 5, toxicity: 0 });
    expect(scores[2]!.toxicity).toBeGreaterThanOrEqual(0.5);

    await expect(run({ scorer: 'lexicon:presence' })).rejects.toThrow(/3 samples already have a "toxicity" score/);
    expect(getSample(db, 1)!.scores!.toxicity).toBe(scores[0]!.toxicity);
    expect(await run({ scorer: 'lexicon:presence', overwrite: true })).toMatchObject({ replaced: 3 });
    expect(getSample(db, 2)!.scores).toEqual({ rating: 5, toxicity: 0 });
    db.close();
  });
});
