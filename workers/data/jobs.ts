/**
 * Job kinds of the dataset layer, in the shape of `workers/jobs/types.ts`: `dataset.import`, `dataset.export` and
 * `dataset.score`.
 * The backend registers them in `workers/jobs/registry.ts`; they run in a worker process, which opens the
 * workspace database itself (WAL, so the backend keeps reading while an import writes).
 * Heavy modules are imported inside `run`, as the registry asks.
 */
import path from 'node:path';
import { defineJob } from '../jobs/types';
import type { JobContext } from '../jobs/types';
import { ExportJobParamsSchema, ImportJobParamsSchema, ScoreJobParamsSchema } from './schema';

/** The workspace database file (main/workspace/workspace.ts: DB_FILE). */
export const WORKSPACE_DB_FILE = 'resect.db';

async function openWorkspaceDb(ctx: JobContext) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path.join(ctx.workspace, WORKSPACE_DB_FILE), { timeout: 10_000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const { migrate } = await import('./store');
  migrate(db);
  return db;
}

export const datasetImportJob = defineJob({
  heavy: true,
  params: ImportJobParamsSchema,
  title: (p) => `Import ${p.name || path.basename(p.paths[0] ?? 'dataset')}${p.paths.length > 1 ? ` (+${p.paths.length - 1})` : ''}`,
  async run(p, ctx) {
    const { importDataset, ImportFailedError } = await import('./importer');
    const db = await openWorkspaceDb(ctx);
    try {
      const report = await importDataset(
        db,
        p.paths.map((x) => ({ path: x })),
        {
          name: p.name,
          mapping: p.mapping,
          onError: p.onError,
          duplicates: p.duplicates,
          textUnit: p.textUnit,
          signal: ctx.signal,
          onProgress: (x) => ctx.progress(x.bytesDone, x.bytesTotal || null, 'bytes', `${x.rowsImported.toLocaleString('en')} samples · ${x.file}`),
        },
      ).catch((e: unknown) => {
        if (e instanceof ImportFailedError) {
          for (const i of e.report.issues.slice(0, 20)) ctx.log(`${i.kind}: ${i.file}${i.line ? `:${i.line}` : ''} ${i.message}`);
          if (e.report.outcome === 'cancelled') throw ctx.signal.reason ?? e;
        }
        throw e;
      });
      ctx.log(`imported ${report.imported} samples into dataset ${report.datasetId} (${report.duplicates} duplicates, ${report.skippedErrors} skipped) in ${report.durationMs} ms`);
      for (const i of report.issues.slice(0, 20)) ctx.log(`${i.kind}: ${i.file}${i.line ? `:${i.line}` : ''} ${i.message}`);
      // The job result stays small: the full report (first 100 issues) is kept with the dataset.
      return {
        datasetId: report.datasetId,
        imported: report.imported,
        records: report.records,
        duplicates: report.duplicates,
        skippedErrors: report.skippedErrors,
        blank: report.blank,
        issueCounts: report.issueCounts,
        issues: report.issues.slice(0, 50),
        durationMs: report.durationMs,
      };
    } finally {
      db.close();
    }
  },
});

export const datasetExportJob = defineJob({
  heavy: false,
  params: ExportJobParamsSchema,
  title: (p) => `Export dataset ${p.filter.datasetId} to ${path.basename(p.path)}`,
  async run(p, ctx) {
    const { exportSamples } = await import('./export');
    const { countSamples } = await import('./store');
    const db = await openWorkspaceDb(ctx);
    try {
      const total = countSamples(db, p.filter);
      ctx.progress(0, total, 'samples');
      const r = await exportSamples(db, p.filter, p.path, { format: p.format, signal: ctx.signal, onProgress: (x) => ctx.progress(x.samples, total, 'samples') });
      ctx.log(`exported ${r.samples} samples to ${r.path} (${r.bytes} bytes)`);
      return r;
    } finally {
      db.close();
    }
  },
});

/**
 * `dataset.score`: scores every sample's text (the toxicity heuristic by default) into a score of the dataset, so an
 * atlas can correlate experts with it. A score the samples already carry is never replaced unless `overwrite`.
 */
export const datasetScoreJob = defineJob({
  heavy: true,
  params: ScoreJobParamsSchema,
  title: (p) => `Score dataset ${p.datasetId}: ${p.name} (${p.scorer})`,
  async run(p, ctx) {
    const { countSamples, iterateSamples, removeScore, scoreCounts, setScores } = await import('./store');
    const { openScorer } = await import('../analysis/resection/scorers');
    const db = await openWorkspaceDb(ctx);
    const scorer = await openScorer(p.scorer);
    try {
      const existing = scoreCounts(db, p.datasetId)[p.name] ?? 0;
      if (existing > 0 && !p.overwrite) {
        throw new Error(`${existing.toLocaleString('en')} samples already have a "${p.name}" score: choose "replace it" to overwrite, or another name (nothing was changed)`);
      }
      const total = countSamples(db, { datasetId: p.datasetId });
      ctx.progress(0, total, 'samples');
      let done = 0;
      let sum = 0;
      try {
        for (const batch of iterateSamples(db, { datasetId: p.datasetId, batchSize: 500 })) {
          ctx.signal.throwIfAborted();
          const values = await scorer.score(batch.map((s) => s.text));
          setScores(db, p.datasetId, p.name, batch.map((s, k) => ({ id: s.id, value: values[k]! })));
          for (const v of values) sum += v;
          done += batch.length;
          ctx.progress(done, total, 'samples');
        }
      } catch (e) {
        // A score this job created goes with it; one it was replacing is left part old, part new, and says so.
        if (existing === 0) removeScore(db, p.datasetId, p.name);
        else ctx.log(`stopped after ${done} samples: "${p.name}" holds new values for those and the old ones for the rest`);
        throw e;
      }
      ctx.log(`scored ${done} samples with ${scorer.name} into "${p.name}" (mean ${done ? (sum / done).toFixed(4) : '0'})${existing ? `, replacing it on ${existing}` : ''}`);
      return { datasetId: p.datasetId, name: p.name, scorer: scorer.name, samples: done, mean: done ? sum / done : 0, replaced: existing };
    } finally {
      await scorer.dispose?.();
      db.close();
    }
  },
});
